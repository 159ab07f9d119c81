-- The monolith's ledger tables as its Django migration creates them (monolith/wallets),
-- without foreign keys to accounts so reconcile tests need only these two tables.
CREATE TABLE wallets_wallet (
    id bigint PRIMARY KEY,
    currency varchar(3) NOT NULL,
    balance bigint NOT NULL,
    status smallint NOT NULL,
    limits_locked boolean NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    merchant_id bigint NOT NULL,
    user_id bigint NOT NULL
);
CREATE TABLE wallets_transaction (
    id bigint PRIMARY KEY,
    txn_type smallint NOT NULL,
    amount bigint NOT NULL,
    balance_after bigint NOT NULL,
    status smallint NOT NULL,
    reference varchar(64) NOT NULL,
    description varchar(255) NOT NULL,
    created_at timestamptz NOT NULL,
    related_wallet_id bigint,
    wallet_id bigint NOT NULL
);
