"""The orders/catalog API's data access: products cached cache-aside, orders never cached.

Cache-aside for product reads: look in Valkey first; on a miss read a replica and store the
row with a TTL. A write goes to the writer, then marks the product "recently written" for a
few seconds (a `fresh:` marker holding a token new to that write) and deletes the cached row
(invalidation, not update: two concurrent writers could otherwise leave the older value
cached). While the marker lives, a cache miss reads from the writer: otherwise the next miss
could read a replica that has not replayed the write yet.

A miss that read the database stores its row only if no write has marked the product since
the miss looked at the marker: one script in Valkey compares the marker with the one the read
saw and sets the row only if they are equal, atomically. Without that, a write and its
invalidation landing between a read's database query and its store would leave the read's
old row cached for a whole TTL. A read that took half the marker's lifetime or more stores
nothing (a marker could have come and gone meanwhile). Left open: a replica lagging behind
the writer by more than the marker's lifetime can still serve, and cache, an old row.

A cache that does not answer is a miss, never an error: the database can serve everything.
While the writer is down, a recently written product is read from a replica and not cached.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Protocol

from routing import ReadRouter, Unavailable

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id text PRIMARY KEY,
    name text NOT NULL,
    price numeric(12, 2) NOT NULL CHECK (price >= 0),
    stock integer NOT NULL CHECK (stock >= 0)
);
CREATE TABLE IF NOT EXISTS orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id text NOT NULL REFERENCES products (id),
    quantity integer NOT NULL CHECK (quantity > 0),
    total numeric(12, 2) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS heartbeat (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    at timestamptz NOT NULL
);
INSERT INTO heartbeat (id, at) VALUES (true, now()) ON CONFLICT (id) DO NOTHING;
"""
"""`heartbeat` holds one row, which the home app updates (heartbeat.py) so that replicas of an
idle writer still replay a commit every few seconds."""


class Cache(Protocol):
    def get(self, name: str) -> Any: ...
    def set(self, name: str, value: str, ex: int | None = None) -> Any: ...
    def delete(self, *names: str) -> Any: ...
    def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any: ...
    def ping(self) -> Any: ...


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    price: str
    stock: int


@dataclass(frozen=True)
class Order:
    id: int
    product_id: str
    quantity: int
    total: str


class OutOfStock(Exception):
    pass


class UnknownProduct(LookupError):
    pass


# KEYS: the row's key, its marker's key; ARGV: the row, its TTL, the marker the read saw ("" if
# none). Both keys are on the one shard of a cluster-mode-disabled replication group.
FILL_UNLESS_WRITTEN = """
local marker = redis.call('GET', KEYS[2])
if (marker or '') ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


class Catalog:
    def __init__(self, router: ReadRouter, cache: Cache, *, ttl: int = 300, fresh_window: int = 5):
        self.router = router
        self.cache = cache
        self.ttl = ttl
        self.fresh_window = fresh_window

    def create_schema(self) -> None:
        self.router.write(SCHEMA)

    # -- products: cache-aside ------------------------------------------------------------------

    def get_product(self, product_id: str, *, consistent: bool = False) -> Product | None:
        """A product; `consistent` reads the writer and skips the cache (neither read nor filled)."""
        select = "SELECT id, name, price, stock FROM products WHERE id = %s"
        if consistent:
            rows = self.router.read(select, (product_id,), consistent=True)
            return _product(rows[0]) if rows else None
        key = f"product:{product_id}"
        cached = self._cache_call("get", key)
        if cached is not None:
            return Product(**json.loads(cached))
        started = time.monotonic()
        marker = self._cache_call("get", f"fresh:{key}")
        fill = True
        try:
            rows = self.router.read(select, (product_id,), consistent=marker is not None)
        except Unavailable:
            if marker is None:
                raise  # neither a replica nor the writer answered
            # Recently written and the writer is down: a replica's row, possibly older than
            # the write, is served (as any replica read may be) but not cached for a TTL.
            rows, fill = self.router.read_replica(select, (product_id,)), False
        if not rows:
            return None
        product = _product(rows[0])
        if fill and time.monotonic() - started < self.fresh_window / 2:
            self._fill(key, product, marker)
        return product

    def put_product(self, product_id: str, name: str, price: Decimal, stock: int) -> Product:
        rows = self.router.write(
            """INSERT INTO products (id, name, price, stock) VALUES (%s, %s, %s, %s)
               ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, price = EXCLUDED.price,
               stock = EXCLUDED.stock RETURNING id, name, price, stock""",
            (product_id, name, price, stock),
        )
        self._invalidate(product_id)
        return _product(rows[0])

    # -- orders: written to the writer, read back from it when the caller needs its own write --

    def place_order(self, product_id: str, quantity: int) -> Order:
        rows = self.router.write(
            """WITH taken AS (
                   UPDATE products SET stock = stock - %(q)s
                   WHERE id = %(p)s AND stock >= %(q)s RETURNING price)
               INSERT INTO orders (product_id, quantity, total)
               SELECT %(p)s, %(q)s, price * %(q)s FROM taken
               RETURNING id, product_id, quantity, total""",
            {"p": product_id, "q": quantity},
        )
        if not rows:
            if not self.router.read("SELECT 1 FROM products WHERE id = %s", (product_id,), consistent=True):
                raise UnknownProduct(product_id)
            raise OutOfStock(product_id)
        self._invalidate(product_id)  # its stock changed
        return _order(rows[0])

    def get_order(self, order_id: int, *, consistent: bool = False) -> Order | None:
        rows = self.router.read(
            "SELECT id, product_id, quantity, total FROM orders WHERE id = %s",
            (order_id,),
            consistent=consistent,
        )
        return _order(rows[0]) if rows else None

    def cache_answers(self) -> bool:
        return self._cache_call("ping") is not None

    # -- cache plumbing -------------------------------------------------------------------------

    def _invalidate(self, product_id: str) -> None:
        key = f"product:{product_id}"
        # The marker first: a read that filled before it is undone by the delete, and one that
        # saw the marker before its database read read the writer, after this write.
        self._cache_call("set", f"fresh:{key}", uuid.uuid4().hex, ex=self.fresh_window)
        self._cache_call("delete", key)

    def _fill(self, key: str, product: Product, marker: bytes | str | None) -> None:
        row = json.dumps(asdict(product))
        seen = marker if marker is not None else ""
        self._cache_call("eval", FILL_UNLESS_WRITTEN, 2, key, f"fresh:{key}", row, self.ttl, seen)

    def _cache_call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.cache, method)(*args, **kwargs)
        except Exception as error:  # the cache is an optimisation: its failure is a miss
            logger.warning("cache %s failed, treating as a miss: %s", method, error)
            return None


def _product(row: tuple[Any, ...]) -> Product:
    return Product(id=row[0], name=row[1], price=str(Decimal(row[2])), stock=int(row[3]))


def _order(row: tuple[Any, ...]) -> Order:
    return Order(id=int(row[0]), product_id=row[1], quantity=int(row[2]), total=str(Decimal(row[3])))
