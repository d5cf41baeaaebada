"""`field__any_of=values`: `IN`, but with the values bound as one array on PostgreSQL.

A batch filters by hundreds of ids or keys at once. `__in` writes one
placeholder per value, and psycopg's parsing of those queries (and of their
hundreds of parameters) was a visible part of an ingress batch's client time;
`= ANY(%s)` is one placeholder whatever the count. Other databases get `IN`.
Registered on every field by the app's `ready()`.
"""

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, Lookup


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False  # a list of values, each prepared by the field in as_sql

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(value, connection) for value in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        if not values:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def register() -> None:
    """Make `__any_of` available on every model field."""
    Field.register_lookup(AnyOf)
