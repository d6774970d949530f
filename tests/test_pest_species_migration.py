"""Migration 0031 on PostgreSQL: an agronomist's species entry stored with the one-threshold `action`
becomes a one-item `actions` list the table reads, and a downgrade gives the first threshold back."""

from alembic import command
from sqlalchemy import JSON, BigInteger, String, column, create_engine, insert, select, table

from furrow.cloud.agronomy.species import Species
from furrow.cloud.migrations import _config, upgrade

OLD = {"key": "ostrinia-nubilalis", "name": "Ostrinia nubilalis",
       "action": {"catch": 40, "per": "week", "crops": ["potato"], "source": "the farm's own agronomist, 2025 notes"}}
BARE = {"key": "agrotis-ipsilon", "name": "Agrotis ipsilon"}


SPECIES = table("pest_species", column("key", String), column("data", JSON), column("updated_ms", BigInteger),
                column("by", String))


def _data(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return dict(conn.execute(select(SPECIES.c.key, SPECIES.c.data)).all())


def test_a_stored_one_threshold_entry_becomes_a_list_and_back(pg_database):
    """At 0030 two entries are stored (one with an `action`, one without); after 0031 the first holds
    `actions` [its threshold] and validates as a Species, the second is untouched; downgrading to 0030
    writes `action` back."""
    engine = create_engine(pg_database)
    upgrade(engine, "0030")
    with engine.begin() as conn:
        conn.execute(insert(SPECIES), [{"key": d["key"], "data": d, "updated_ms": 1, "by": "agronomist"}
                                       for d in (OLD, BARE)])
    upgrade(engine)
    after = _data(engine)
    assert "action" not in after["ostrinia-nubilalis"]
    assert after["ostrinia-nubilalis"]["actions"] == [OLD["action"]]
    assert after["agrotis-ipsilon"] == BARE
    sp = Species.model_validate(after["ostrinia-nubilalis"])
    assert [(a.catch, a.crops) for a in sp.actions] == [(40, ["potato"])]
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0030")
    assert _data(engine)["ostrinia-nubilalis"]["action"] == OLD["action"]
    engine.dispose()
