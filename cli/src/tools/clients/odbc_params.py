"""psqlODBC (Debian's odbc-postgresql) through unixODBC from Python's pyodbc (Debian's
python3-pyodbc): the parts of issue 11 item 3's ODBC check that unixODBC's isql cannot do,
namely statements with bound parameters, plus the catalog calls an ODBC application makes.
Prints a transcript, one fact a line, that odbc.e2e.test.ts compares between PostgreSQL 15
and Stratum.

Usage: /usr/bin/python3 odbc_params.py DSN   (the DSN comes from $ODBCINI)
"""
import decimal
import sys

import pyodbc

conn = pyodbc.connect(f"DSN={sys.argv[1]};UID=stratum;PWD=", autocommit=False)
cur = conn.cursor()


def out(*parts):
    print(" ".join(str(p) for p in parts))


def rows(cursor):
    return [tuple(str(v) if isinstance(v, decimal.Decimal) else v for v in r) for r in cursor.fetchall()]


out("tables:", sorted((t.table_name, t.table_type) for t in cur.tables(schema="public")))
out("columns:", [(c.column_name, c.type_name, c.nullable) for c in cur.columns(table="customers")])
out("primary key:", [(k.column_name, k.key_seq) for k in cur.primaryKeys(table="orders")])
out("foreign keys:", [(k.pktable_name, k.pkcolumn_name, k.fkcolumn_name) for k in cur.foreignKeys(foreignTable="orders")])
out("statistics:", sorted((s.index_name or "", s.column_name or "", s.non_unique) for s in cur.statistics(table="orders")))

cur.execute(
    "SELECT o.id, c.email, o.amount FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.amount > ? AND o.status = ? ORDER BY o.id",
    decimal.Decimal("100"),
    "paid",
)
out("select with parameters:", rows(cur))
cur.execute("INSERT INTO customers (email, name) VALUES (?, ?)", "odbc@example.com", "O'Dee")
out("insert rowcount:", cur.rowcount)
conn.commit()
cur.execute("SELECT name, tier FROM customers WHERE email = ?", "odbc@example.com")
out("read back:", rows(cur))
cur.execute("UPDATE orders SET note = ? WHERE customer_id = ? AND note IS NULL", "via odbc", 1)
out("update rowcount:", cur.rowcount)
conn.rollback()
cur.execute("SELECT count(*) FROM orders WHERE note = ?", "via odbc")
out("after rollback:", rows(cur))
conn.close()
