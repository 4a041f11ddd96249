/**
 * The schema of the data of record, as versioned migrations (src/db/migrations.ts applies them in
 * order, each once). Never edit a released migration: add the next version. The statements that
 * read and write the tables are with their domain: src/orders/order-sql.ts, src/sale/sale-sql.ts.
 */
export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'orders table',
    sql: `CREATE TABLE orders (
    order_id        text PRIMARY KEY,
    sale_id         text NOT NULL,
    user_id         text NOT NULL,              -- '' for an anonymous /buy/ticket buyer
    quantity        integer NOT NULL CHECK (quantity > 0),
    status          text NOT NULL CHECK (status IN ('reserved', 'paid', 'expired', 'cancelled')),
    idempotency_key text,                       -- NULL when the client sent none
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    paid_at         timestamptz,
    written_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL)),
    -- A retry with the same Idempotency-Key by the same user is one order (I6), in PostgreSQL too.
    -- (NULL keys never conflict.) The per-user limit (I3) is a sum over a user's live orders,
    -- which a unique index cannot express once perUserLimit > 1 or an expired order frees a
    -- user to buy again; the Lua script enforces it and the reconciler checks it here.
    UNIQUE (sale_id, user_id, idempotency_key)
  );
  CREATE INDEX orders_sale_user ON orders (sale_id, user_id);`,
  },
  // An Idempotency-Key names one order while Redis remembers it; ORDER_RETENTION_S after a
  // cancelled or expired order was written, Redis forgets it and the key makes a new order.
  // PostgreSQL keeps the old row, so the key is unique among live orders only (I6 still: a
  // replay never makes a second live order).
  {
    version: 2,
    name: 'idempotency keys unique among live orders',
    sql: `ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_sale_id_user_id_idempotency_key_key;
  CREATE UNIQUE INDEX orders_live_idempotency_key ON orders (sale_id, user_id, idempotency_key)
    WHERE status IN ('reserved', 'paid');`,
  },
  {
    version: 3,
    name: 'sales table',
    sql: `CREATE TABLE sales (
    sale_id             text PRIMARY KEY,
    name                text NOT NULL,
    stock               bigint NOT NULL CHECK (stock >= 0),
    per_user_limit      integer NOT NULL CHECK (per_user_limit > 0),
    starts_at           timestamptz,              -- NULL: starts only when started by hand
    ends_at             timestamptz,              -- NULL: no end
    payment_ttl_seconds integer NOT NULL CHECK (payment_ttl_seconds > 0),
    started             boolean NOT NULL,
    closed              boolean NOT NULL,
    -- Redis's creation time: the reconciler takes orders older than the sale for an earlier
    -- sale's under the same id, so a restored sale must keep it.
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
  );`,
  },
]
