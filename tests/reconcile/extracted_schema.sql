-- The extracted ledger service's schema, as reconcile/mappings/ledger.toml expects it.
-- The one place it is written down until the ledger service owns its migrations.
-- Keys are indexed but not yet unique: the backfill loads without constraints, which
-- is exactly how a duplicate can appear, and reconciliation must report it.
CREATE TABLE ledger_transaction (
    id bigint NOT NULL,                -- the legacy wallets_transaction id
    wallet_id bigint NOT NULL,
    kind text NOT NULL,                -- credit, debit, transfer_in, transfer_out, payout, payout_reversal
    amount numeric(18, 2) NOT NULL,    -- rupees, signed: + into the wallet, - out of it
    currency char(3) NOT NULL,
    status text NOT NULL,              -- posted
    reference text,
    created_at timestamptz NOT NULL,
    description text,                  -- not compared: free text the service may normalise
    counterparty_wallet_id bigint,     -- not compared yet (legacy related_wallet_id is ignored too)
    balance_after numeric(18, 2)       -- running balance: the balance check covers it, not rows
);
CREATE INDEX ledger_transaction_id ON ledger_transaction (id);
CREATE TABLE ledger_entry (
    transaction_id bigint NOT NULL,
    leg text NOT NULL,                 -- wallet | contra
    account text NOT NULL,             -- wallet:<wallet id> | contra:<kind>
    amount numeric(18, 2) NOT NULL,    -- the two legs of a transaction sum to zero
    currency char(3) NOT NULL,
    id bigserial,                      -- surrogate key of the service, not compared
    created_at timestamptz NOT NULL DEFAULT now()  -- when written here: the lag window's time
);
CREATE INDEX ledger_entry_key ON ledger_entry (transaction_id, leg);
