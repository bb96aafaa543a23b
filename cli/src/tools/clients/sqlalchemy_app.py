"""SQLAlchemy 1.4 (Debian's python3-sqlalchemy over python3-psycopg2) used the way an
application uses it, against one server: create_all with serial keys, unique and foreign keys
and server defaults; ORM inserts that fetch generated keys; queries and joins; bulk update()
and delete() by predicate; inspect() reflection of its own tables and of the tool-test schema
(cli/src/tools/schema.ts); drop_all. Prints a transcript, one fact a line, that
sqlalchemy.e2e.test.ts compares between PostgreSQL 15 and Stratum.

Usage: /usr/bin/python3 sqlalchemy_app.py PORT
"""
import sys

import sqlalchemy as sa
from sqlalchemy.orm import Session, declarative_base, relationship

port = sys.argv[1]
engine = sa.create_engine(f"postgresql+psycopg2://stratum@127.0.0.1:{port}/stratum", future=True)
Base = declarative_base()


class Author(Base):
    __tablename__ = "sa_authors"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(100), nullable=False, unique=True)
    active = sa.Column(sa.Boolean, nullable=False, server_default=sa.text("true"))
    joined = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    books = relationship("Book", back_populates="author")


class Book(Base):
    __tablename__ = "sa_books"
    __table_args__ = (sa.UniqueConstraint("author_id", "title", name="sa_books_author_title"),)
    id = sa.Column(sa.BigInteger, primary_key=True)
    author_id = sa.Column(sa.Integer, sa.ForeignKey("sa_authors.id", ondelete="CASCADE"), nullable=False, index=True)
    title = sa.Column(sa.String(200), nullable=False)
    price = sa.Column(sa.Numeric(8, 2), nullable=False, server_default="0")
    pages = sa.Column(sa.Integer)
    author = relationship("Author", back_populates="books")


def out(*parts):
    print(" ".join(str(p) for p in parts))


def sorted_dict(d):
    return "{" + ", ".join(f"{k}: {d[k]!r}" for k in sorted(d)) + "}"


Base.metadata.create_all(engine)
out("create_all: ok")

with Session(engine) as s:
    ada = Author(name="Ada")
    bob = Author(name="Bob")
    s.add_all([ada, bob])
    s.flush()
    out("author ids:", ada.id, bob.id)
    books = [
        Book(author=ada, title="Notes", price=12.5, pages=40),
        Book(author=ada, title="Engines", pages=300),
        Book(author=bob, title="Boats", price=7, pages=None),
    ]
    s.add_all(books)
    s.commit()
    out("book ids:", [b.id for b in books])
    out("server defaults:", ada.active, ada.joined is not None, books[1].price)

with Session(engine) as s:
    rows = s.execute(
        sa.select(Author.name, Book.title, Book.price).join(Book.author).where(Book.price >= sa.bindparam("p")).order_by(Book.id),
        {"p": 5},
    ).all()
    out("join:", [tuple(r) for r in rows])
    ada = s.execute(sa.select(Author).where(Author.name == "Ada")).scalar_one()
    out("relationship:", sorted(b.title for b in ada.books))
    out(
        "aggregate:",
        s.execute(sa.select(Author.name, sa.func.count(Book.id), sa.func.sum(Book.pages)).join(Book).group_by(Author.name).order_by(Author.name)).all(),
    )
    out("get:", s.get(Book, 3).title)
    r = s.execute(sa.update(Book).where(Book.price < 10).values(price=Book.price + 1).execution_options(synchronize_session="fetch"))
    out("bulk update rowcount:", r.rowcount)
    s.commit()
    out("after update:", s.execute(sa.select(Book.title, Book.price).order_by(Book.id)).all())
    r = s.execute(sa.delete(Book).where(Book.pages.is_(None)).execution_options(synchronize_session=False))
    out("bulk delete rowcount:", r.rowcount)
    s.commit()
    out("after delete:", s.scalars(sa.select(Book.title).order_by(Book.id)).all())
    try:
        s.add(Author(name="Ada"))
        s.flush()
        out("duplicate: accepted")
    except sa.exc.IntegrityError as e:
        out("duplicate:", type(e.orig).__name__, e.orig.pgcode)
        s.rollback()

insp = sa.inspect(engine)
out("tables:", insp.get_table_names())
out("views:", insp.get_view_names())
out("sequences:", insp.get_sequence_names())
for t in ["sa_authors", "sa_books", "customers", "orders"]:
    out(f"== {t}")
    for c in insp.get_columns(t):
        c = dict(c)
        c["type"] = repr(c["type"])
        out("column:", sorted_dict(c))
    out("pk:", sorted_dict(insp.get_pk_constraint(t)))
    for fk in insp.get_foreign_keys(t):
        out("fk:", sorted_dict(fk))
    for ix in sorted(insp.get_indexes(t), key=lambda i: i["name"]):
        out("index:", sorted_dict(ix))
    for uq in sorted(insp.get_unique_constraints(t), key=lambda u: u["name"]):
        out("unique:", sorted_dict(uq))
    for ck in sorted(insp.get_check_constraints(t), key=lambda c: c["name"]):
        out("check:", sorted_dict(ck))
    out("comment:", insp.get_table_comment(t))
out("view definition:", insp.get_view_definition("big_orders"))

meta = sa.MetaData()
orders = sa.Table("orders", meta, autoload_with=engine)
out("reflected orders:", [c.name for c in orders.columns], [fk.target_fullname for fk in orders.foreign_keys])

Base.metadata.drop_all(engine)
out("drop_all: ok; tables:", sa.inspect(engine).get_table_names())
