"""The template catalogue: parity with the monolith's texts, locale fallback, and a broken
catalogue refused at load time with the file, the kind and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from extracted.notifications import templates
from extracted.notifications.domain import FIELDS
from extracted.notifications.errors import TemplateError
from monolith.common.money import format_paise


@pytest.fixture(scope="module")
def catalogue() -> templates.Catalogue:
    return templates.load()


def test_the_shipped_catalogue_has_every_kind_in_the_fallback_locale(catalogue: templates.Catalogue) -> None:
    assert set(catalogue.templates["en"]) == set(FIELDS)


@pytest.mark.parametrize(("kind", "fields", "subject", "body"), [
    ("wallet.credited", {"currency": "INR", "amount": format_paise(12345), "wallet_id": "7"},
     "Money added to your wallet", "INR 123.45 was credited to wallet 7."),
    ("wallet.debited", {"currency": "INR", "amount": format_paise(5), "wallet_id": "7"},
     "Money taken from your wallet", "INR 0.05 was debited from wallet 7."),
    ("transfer.completed", {"currency": "INR", "amount": "1.00", "counterparty_wallet_id": "9"},
     "Transfer sent", "INR 1.00 sent to wallet 9."),
    ("payout.created", {"amount": "10.00", "wallet_id": "7"},
     "Payout initiated", "A payout of 10.00 from wallet 7 is on its way."),
    ("payout.failed", {"payout_id": "3", "amount": "10.00", "status": "FAILED"},
     "Payout failed", "Payout 3 of 10.00: FAILED."),
    ("kyc.rejected", {"reason": "blurred scan"},
     "Your KYC was rejected", "Your identity documents were rejected: blurred scan"),
])
def test_english_texts_are_the_monoliths_word_for_word(
        catalogue: templates.Catalogue, kind: str, fields: dict[str, str], subject: str, body: str) -> None:
    rendered = catalogue.render(kind, None, fields)
    assert (rendered.subject, rendered.body, rendered.locale) == (subject, body, "en")


def test_locale_falls_back_from_region_to_language_to_the_fallback(catalogue: templates.Catalogue) -> None:
    fields = {"currency": "INR", "amount": "1.00", "wallet_id": "7"}
    assert catalogue.render("wallet.credited", "hi-IN", fields).locale == "hi"
    assert catalogue.render("wallet.credited", "hi_IN", fields).locale == "hi"
    assert "7" in catalogue.render("wallet.credited", "hi", fields).body
    # hi has no payout.paid template, and nobody has fr: both fall back to en
    assert catalogue.render("payout.paid", "hi", {"payout_id": "1"}).locale == "en"
    assert catalogue.render("wallet.credited", "fr", fields).locale == "en"


def test_sms_and_push_text_defaults_to_the_body(catalogue: templates.Catalogue) -> None:
    rendered = catalogue.render("kyc.verified", "en", {})
    assert rendered.text == rendered.body
    assert catalogue.render("wallet.credited", "en", {"amount": "1.00"}).text.startswith("PayStream:")


def _catalogue(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def _english(**overrides: str) -> str:
    tables = {kind: f'["{kind}"]\nsubject = "s"\nbody = "b"\n' for kind in FIELDS}
    tables.update(overrides)
    return "\n".join(tables.values())


def test_a_kind_missing_from_the_fallback_locale_is_refused_at_load(tmp_path: Path) -> None:
    text = _english(**{"payout.paid": ""})
    with pytest.raises(TemplateError, match=r"en\.toml.*no template for \['payout\.paid'\]"):
        templates.load(_catalogue(tmp_path, {"en.toml": text}))


def test_another_locale_may_omit_kinds_but_not_invent_placeholders(tmp_path: Path) -> None:
    folder = _catalogue(tmp_path, {"en.toml": _english(),
                                   "hi.toml": '["kyc.verified"]\nsubject = "s"\nbody = "{iban}"\n'})
    with pytest.raises(TemplateError, match=r"hi\.toml \['kyc\.verified'\]\.body: unknown placeholder.*iban"):
        templates.load(folder)


@pytest.mark.parametrize(("table", "problem"), [
    ('["wallet.exploded"]\nsubject = "s"\nbody = "b"\n', "unknown notification kind"),
    ('["kyc.verified"]\nsubject = "s"\n', "needs non-empty strings subject and body"),
    ('["kyc.verified"]\nsubject = "s"\nbody = "{full_name:>10}"\n', "not a plain field name"),
    ('["kyc.verified"]\nsubject = "s"\nbody = "{full_name"\n', "Escape a literal brace"),
    ('["kyc.verified"\n', "cannot read the template file"),
])
def test_broken_templates_name_the_file_and_the_fix(tmp_path: Path, table: str, problem: str) -> None:
    folder = _catalogue(tmp_path, {"en.toml": _english(), "xx.toml": table})
    with pytest.raises(TemplateError, match=r"xx\.toml") as caught:
        templates.load(folder)
    assert problem in str(caught.value)


def test_no_file_for_the_fallback_locale_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"no de\.toml for the fallback locale 'de'"):
        templates.load(_catalogue(tmp_path, {"en.toml": _english()}), fallback="de")
