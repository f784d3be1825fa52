"""Hot statements, with the ORM's SQL compiled once per process.

On the token paths the ORM costs more than PostgreSQL answering the query: compiling a
queryset or a save takes ~0.3 ms of Python per statement on a small machine, more than the
statement's own round trip, and `Model.objects.raw()` still resolves columns and the model's
init order on every call. The helpers here let the ORM compile each statement shape once
(its SQL, column converters and select_related populators, all Django's own), and on each
call only prepare the values the way the ORM would, execute, and build the instances:

- `first_row()`: a SELECT by a unique value, with `related=` foreign keys joined (the
  token's user comes with the token: one round trip, not two);
- `insert_row()`: `obj.save()` of a new row, or INSERT ... ON CONFLICT DO NOTHING;
- `insert_rows()`: several new rows in one statement;
- `claim_and_insert()`: a single-use claim and the rows it pays for, all or nothing, in one
  statement (idp.durability.issuing);
- `update_rows()`: `filter(...).update(...)`, returning the number of rows changed.

Each checks at compile time that the SQL's parameters are exactly the values it will pass
(otherwise the shape falls back to the ORM for good), and the write helpers fall back to
the ORM whenever something listens to the model's save signals. Statements still go through
Django's cursor, so transactions, execute wrappers and query counting see them as usual.
"""

from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from django.db.models import Model, signals
from django.db.models.constants import OnConflict
from django.db.models.query import get_related_populators
from django.db.models.sql import InsertQuery, UpdateQuery

_plans: dict[tuple, Any] = {}


def _queryset(model, constant: dict, related: tuple, params: dict):
    queryset = model._default_manager.filter(**constant)
    for name, value in params.items():  # one filter each: the SQL's parameters in this order
        queryset = queryset.filter(**{name: value})
    return queryset.select_related(*related) if related else queryset


def _check_params(params: dict) -> list:
    values = list(params.values())
    if any(value is None for value in values):
        raise ValueError("compiled statement params cannot be None (that compiles to IS NULL)")
    return values


# --- SELECT ---


@dataclass(frozen=True)
class _Select:
    sql: str
    model: type[Model]
    init_list: list[str]
    width: int
    converters: list[tuple[int, list, Any]]
    populators: list


def _compile_select(queryset, values: list) -> _Select | None:
    compiler = queryset.query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    if list(params) != values:
        return None  # SQL that depends on more than these values: no shortcut
    select, klass_info = compiler.select, compiler.klass_info
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    converters = compiler.get_converters([column for column, _, _ in select])
    return _Select(
        sql=sql,
        model=klass_info["model"],
        init_list=[column.target.attname for column, _, _ in select[start:end]],
        width=end,
        converters=[(pos, convs, expr) for pos, (convs, expr) in converters.items()],
        populators=get_related_populators(klass_info, select, queryset.db),
    )


def _select_plan(model, constant: dict, related: tuple, params: dict) -> _Select | None:
    key = ("select", model, tuple(sorted(constant.items())), tuple(params), related)
    if key not in _plans:
        queryset = _queryset(model, constant, related, params)[:1]
        _plans[key] = _compile_select(queryset, _check_params(params))
    return _plans[key]


def _fetch(plan: _Select, connection, values: list):
    """Run the plan's SELECT and build its first row."""
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, values)
        row = cursor.fetchone()
    if row is None:
        return None
    if plan.converters:
        row = list(row)
        for pos, convs, expr in plan.converters:
            value = row[pos]
            for convert in convs:
                value = convert(value, expr, connection)
            row[pos] = value
    record = plan.model.from_db(connection.alias, plan.init_list, row[: plan.width])
    for populator in plan.populators:
        populator.populate(row, record)
    return record


def first_row(
    model: type[Model],
    constant: dict[str, Any] | None = None,
    *,
    related: tuple[str, ...] = (),
    **params: Any,
):
    """The first `model` row matching `constant` (fixed conditions, compiled into the SQL)
    and `params` (the values that change from call to call), or None, with the `related`
    foreign keys joined and cached on it (select_related). No ORDER BY: meant for lookups
    by a unique column."""
    constant = constant or {}
    values = _check_params(params)
    plan = _select_plan(model, constant, related, params)
    if plan is None:
        return _queryset(model, constant, related, params).first()
    connection = connections[model._default_manager.db]
    return _fetch(plan, connection, values)


# --- INSERT ---


@dataclass(frozen=True)
class _Insert:
    sql: str
    fields: list
    returning: list


def _listened(model) -> bool:
    return signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model)


def _insert_plan(obj: Model, connection, *, ignore_conflicts: bool, returning: bool):
    """The compiled INSERT for `obj`'s model (from the first such object), or None where
    the ORM must do it (save listeners, multi-table inheritance, no INSERT ... RETURNING)."""
    model = type(obj)
    meta = model._meta
    if _listened(model) or meta.parents:
        return None
    key = ("insert", model, connection.alias, ignore_conflicts, returning)
    plan = _plans.get(key)
    if plan is None and key not in _plans:
        returning_fields = list(meta.db_returning_fields) if returning else []
        if returning_fields and not connection.features.can_return_columns_from_insert:
            _plans[key] = None
            return None
        fields = [
            f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field
        ]
        query = InsertQuery(model, on_conflict=OnConflict.IGNORE if ignore_conflicts else None)
        query.insert_values(fields, [obj])
        compiler = query.get_compiler(using=connection.alias)
        compiler.returning_fields = returning_fields or None
        [(sql, _)] = compiler.as_sql()
        plan = _plans[key] = _Insert(sql=sql, fields=fields, returning=returning_fields)
    return plan


def _insert_params(plan: _Insert, obj: Model, connection) -> list:
    # What SQLInsertCompiler does for each plain value: pre_save(), then get_db_prep_save().
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in plan.fields]


def _inserted(obj: Model, connection) -> None:
    obj._state.adding = False
    obj._state.db = connection.alias


def insert_row(obj: Model, *, ignore_conflicts: bool = False) -> Model:
    """INSERT `obj` as `obj.save(force_insert=True)` would (its pk set from RETURNING), or
    with `ignore_conflicts` as INSERT ... ON CONFLICT DO NOTHING (no pk: the row may
    already exist). No save signals: with a listener, the ORM does it."""
    model = type(obj)
    connection = connections[model._default_manager.db]
    plan = None
    if obj.pk is None:
        plan = _insert_plan(obj, connection, ignore_conflicts=ignore_conflicts,
                            returning=not ignore_conflicts)  # fmt: skip
    if plan is None:
        if ignore_conflicts:
            model._default_manager.bulk_create([obj], ignore_conflicts=True)
        else:
            obj.save(force_insert=True)
        return obj
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, _insert_params(plan, obj, connection))
        if plan.returning:
            row = cursor.fetchone()
            for field, value in zip(plan.returning, row, strict=True):
                for convert in field.get_db_converters(connection):
                    value = convert(value, field, connection)
                setattr(obj, field.attname, value)
    _inserted(obj, connection)
    return obj


def _batch(objs: list[Model], connection) -> list[_Insert] | None:
    """Each object's compiled INSERT, for one statement on PostgreSQL; None when any of them
    is for the ORM (a pk set, save listeners, another database) or this is not PostgreSQL."""
    if connection.vendor != "postgresql":
        return None
    plans = []
    for obj in objs:
        if obj.pk is not None or connections[type(obj)._default_manager.db] is not connection:
            return None
        plan = _insert_plan(obj, connection, ignore_conflicts=False, returning=False)
        if plan is None:
            return None
        plans.append(plan)
    return plans


def _insert_clauses(plans: list[_Insert], objs: list[Model], connection, condition: str):
    """WITH clauses inserting `objs`, each as `INSERT ... SELECT <its values> <condition>`
    (plain VALUES without a condition), and their parameters in order."""
    clauses, params = [], []
    for n, (plan, obj) in enumerate(zip(plans, objs, strict=True)):
        if condition:
            head, _, row = plan.sql.rpartition(" VALUES ")
            # The ORM's SQL and constants only; every value is a parameter.
            clauses.append(f"w{n} AS ({head} SELECT {row[1:-1]} {condition})")  # noqa: S608
        else:
            clauses.append(f"w{n} AS ({plan.sql})")
        params += _insert_params(plan, obj, connection)
    return clauses, params


def insert_rows(objs: list[Model], *, select: str = "") -> None:
    """INSERT several new rows (of any models) in one statement on PostgreSQL: each a
    data-modifying WITH clause, which PostgreSQL runs to completion whether or not the
    main query reads it; `select` is that main query's select list (e.g. a set_config()).
    Elsewhere, one INSERT each. The rows get no primary key back."""
    claim_and_insert(claim=None, objs=objs, select=select)


def claim_and_insert(*, claim: tuple | None, objs: list[Model], select: str = "") -> bool:
    """Set `claim` = (record, field, value) - `record.<field>` from NULL to `value` - and
    insert `objs`, all or nothing: False (and nothing written) if the field was set already.
    Without a claim, just insert `objs` (insert_rows()).

    On PostgreSQL one statement: the UPDATE ... RETURNING and each INSERT ... SELECT ...
    WHERE EXISTS (the UPDATE's row) are WITH clauses, and `select` (e.g. a set_config())
    joins the main query; a second request claiming the same row waits for the first's
    commit on the row lock, then finds the field set. Elsewhere, a transaction of the UPDATE
    and the INSERTs. The inserted rows get no primary key back."""
    if claim is None and not objs:
        return True
    model = type(claim[0] if claim is not None else objs[0])
    connection = connections[model._default_manager.db]
    plans = _batch(objs, connection)
    update = None
    if claim is not None and plans is not None:
        record, name, value = claim
        update = _update_plan(model, {f"{name}__isnull": True}, {name: value},
                              {"pk": record.pk}, connection)  # fmt: skip
    if plans is None or (claim is not None and update is None):
        return _claim_and_insert_with_the_orm(claim, objs, connection)
    condition = "WHERE EXISTS (SELECT 1 FROM claim)" if claim is not None else ""
    clauses, params = _insert_clauses(plans, objs, connection, condition)
    columns = [select] if select else []
    if claim is not None:
        clauses.insert(0, f"claim AS ({update.sql} RETURNING 1)")
        params = _prepared(update.set_fields, [value], connection) + [record.pk] + params
        columns.insert(0, "(SELECT count(*) FROM claim)")
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(clauses)} SELECT {', '.join(columns) or '1'}", params)
        won = claim is None or cursor.fetchone()[0] > 0
    if won:
        for obj in objs:
            _inserted(obj, connection)
    return won


def _claim_and_insert_with_the_orm(claim: tuple | None, objs: list[Model], connection) -> bool:
    with transaction.atomic(using=connection.alias):
        if claim is not None:
            record, name, value = claim
            changed = update_rows(type(record), {f"{name}__isnull": True}, values={name: value},
                                  pk=record.pk)  # fmt: skip
            if not changed:
                return False
        for obj in objs:
            insert_row(obj)
    return True


# --- UPDATE ---


@dataclass(frozen=True)
class _Update:
    sql: str
    set_fields: list


def _prepared(set_fields: list, new_values: list, connection) -> list:
    return [f.get_db_prep_save(v, connection) for f, v in zip(set_fields, new_values, strict=True)]


def _update_plan(model, constant: dict, values: dict, params: dict, connection):
    key = ("update", model, tuple(sorted(constant.items())), tuple(values), tuple(params))
    if key not in _plans:
        query = _queryset(model, constant, (), params).query.chain(UpdateQuery)
        query.add_update_values(values)
        compiler = query.get_compiler(using=connection.alias)
        sql, compiled_params = compiler.as_sql()
        set_fields = [field for field, _, _ in query.values]
        expected = _prepared(set_fields, list(values.values()), connection)
        expected += _check_params(params)
        plain = not query.related_updates and list(compiled_params) == expected
        _plans[key] = _Update(sql=sql, set_fields=set_fields) if plain else None
    return _plans[key]


def update_rows(
    model: type[Model],
    constant: dict[str, Any] | None = None,
    *,
    values: dict[str, Any],
    **params: Any,
) -> int:
    """`model.objects.filter(**constant, **params).update(**values)`, compiled once: the
    number of rows changed. `values` are plain values (no expressions)."""
    constant = constant or {}
    where = _check_params(params)
    connection = connections[model._default_manager.db]
    plan = _update_plan(model, constant, values, params, connection)
    if plan is None:
        return _queryset(model, constant, (), params).update(**values)
    with connection.cursor() as cursor:
        cursor.execute(
            plan.sql, _prepared(plan.set_fields, list(values.values()), connection) + where
        )
        return cursor.rowcount
