"""Routes of the legacy REST API (/api/v1/...)."""

from django.urls import URLPattern, path, register_converter

from monolith.accounts import views as accounts
from monolith.hooks import views as hooks
from monolith.payouts import views as payouts
from monolith.reports import views as reports
from monolith.wallets import views as wallets


class IdConverter:
    """Ids of at most 18 digits: a longer one cannot exist and would overflow bigint (-> 404)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns: list[URLPattern] = [
    path("merchant/", accounts.MerchantView.as_view()),
    path("users/", accounts.UserListView.as_view()),
    path("users/<id:user_id>/", accounts.UserDetailView.as_view()),
    path("users/<id:user_id>/kyc/", accounts.UserKycView.as_view()),
    path("staff/kyc/<id:submission_id>/verify/", accounts.StaffKycVerifyView.as_view()),
    path("staff/kyc/<id:submission_id>/reject/", accounts.StaffKycRejectView.as_view()),
    path("wallets/", wallets.WalletListView.as_view()),
    path("wallets/<id:wallet_id>/", wallets.WalletDetailView.as_view()),
    path("wallets/<id:wallet_id>/balance/", wallets.WalletBalanceView.as_view()),
    path("wallets/<id:wallet_id>/transactions/", wallets.WalletTransactionsView.as_view()),
    path("wallets/<id:wallet_id>/credit/", wallets.WalletCreditView.as_view()),
    path("wallets/<id:wallet_id>/debit/", wallets.WalletDebitView.as_view()),
    path("transfers/", wallets.TransferView.as_view()),
    path("bank-accounts/", payouts.BankAccountListView.as_view()),
    path("payouts/", payouts.PayoutListView.as_view()),
    path("payouts/<id:payout_id>/", payouts.PayoutDetailView.as_view()),
    path("webhooks/", hooks.WebhookListView.as_view()),
    path("webhooks/<id:endpoint_id>/", hooks.WebhookDetailView.as_view()),
    path("reports/daily/", reports.DailyReportView.as_view()),
]
