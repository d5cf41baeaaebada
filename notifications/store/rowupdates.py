"""Writing a few fields of many rows at once, cheaply.

Django's `bulk_update` builds one CASE expression per field over every row;
compiling it dominated batch publishing and the presence heartbeat in
profiles. On PostgreSQL the rows go in as one `UPDATE ... FROM unnest(...)`
with one array per column (one statement, however many rows: 500 pipelined
single-row UPDATEs were the largest wait of an ingress batch); elsewhere each
row is a plain `UPDATE ... WHERE pk = %s`, sent together with `executemany`.
"""

from django.db import connections, models


def update_rows(model: type[models.Model], objects: list[models.Model], field_names: list[str], using: str = "default"):
    """Write `field_names` of each object as set on it (no `auto_now`, no signals), by primary key.

    Each object appears once (on PostgreSQL a repeated one gets one of its values).
    """
    if not objects:
        return
    connection = connections[using]
    fields = [model._meta.get_field(name) for name in field_names]
    pk = model._meta.pk
    rows = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields]
        + [pk.get_db_prep_value(obj.pk, connection)]
        for obj in objects
    ]
    if connection.vendor == "postgresql":
        _update_from_arrays(connection, model, [*fields, pk], rows)
        return
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(pk.column)} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _update_from_arrays(connection, model: type[models.Model], columns: list, rows: list[list]) -> None:
    """One UPDATE joining the table with the rows unnested from one array per column (the key last)."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = [quote(column.column) for column in columns]
    assignments = ", ".join(f"{name} = wanted.{name}" for name in names[:-1])
    arrays = ", ".join(f"%s::{column.db_type(connection)}[]" for column in columns)
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS wanted({', '.join(names)}) "
        f"WHERE {table}.{names[-1]} = wanted.{names[-1]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(values) for values in zip(*rows, strict=True)])
