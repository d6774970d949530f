"""Migration 0034 on SQLite and PostgreSQL: a tracker registered before 0032 (no site) gets its organisation's
site when the organisation has only one; with two sites, or another role, or a site already set, nothing moves."""

import pytest
from sqlalchemy import String, column, create_engine, insert, select, table

from furrow.cloud.migrations import upgrade

SITES = table("sites", column("id", String), column("name", String), column("timezone", String),
              column("organisation_id", String))
NODES = table("nodes", column("id", String), column("role", String), column("zone_id", String),
              column("site_id", String), column("organisation_id", String))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'furrow.db'}"
    return request.getfixturevalue("pg_database")


def test_a_tracker_without_site_gets_its_organisations_only_site(database_url):
    """At 0032: org one has site home and trackers trk-a (no site) and trk-b (site home already); org two has
    sites north and south and tracker trk-c (no site); soil node soil-1 of org one has no site (it has none to
    have: no zone here either). After 0034: trk-a at home, trk-b at home, trk-c still without, soil-1 untouched."""
    engine = create_engine(database_url)
    upgrade(engine, "0032")
    with engine.begin() as conn:
        conn.execute(insert(SITES), [{"id": "home", "name": "Home", "timezone": "UTC", "organisation_id": "one"},
                                     {"id": "north", "name": "N", "timezone": "UTC", "organisation_id": "two"},
                                     {"id": "south", "name": "S", "timezone": "UTC", "organisation_id": "two"}])
        conn.execute(insert(NODES), [
            {"id": "trk-a", "role": "tracker", "zone_id": None, "site_id": None, "organisation_id": "one"},
            {"id": "trk-b", "role": "tracker", "zone_id": None, "site_id": "home", "organisation_id": "one"},
            {"id": "trk-c", "role": "tracker", "zone_id": None, "site_id": None, "organisation_id": "two"},
            {"id": "soil-1", "role": "soil", "zone_id": None, "site_id": None, "organisation_id": "one"}])
    upgrade(engine)
    with engine.connect() as conn:
        sites = dict(conn.execute(select(NODES.c.id, NODES.c.site_id)).all())
    assert sites == {"trk-a": "home", "trk-b": "home", "trk-c": None, "soil-1": None}
    engine.dispose()
