"""Writing a few fields of many rows at once, cheaply.

Django's `bulk_update` builds one CASE expression per field over every row;
compiling it dominated batch publishing and the presence heartbeat in
profiles. Here each row is a plain `UPDATE ... WHERE pk = %s`, and
`executemany` sends them together (one pipelined round trip with psycopg 3).
"""

from django.db import connections, models


def update_rows(model: type[models.Model], objects: list[models.Model], field_names: list[str], using: str = "default"):
    """Write `field_names` of each object as set on it (no `auto_now`, no signals), by primary key."""
    if not objects:
        return
    connection = connections[using]
    fields = [model._meta.get_field(name) for name in field_names]
    pk = model._meta.pk
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(pk.column)} = %s"
    rows = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields]
        + [pk.get_db_prep_value(obj.pk, connection)]
        for obj in objects
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
