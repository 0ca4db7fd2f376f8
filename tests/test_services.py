"""The service fixtures themselves: each one reaches a real server."""

import socket
import urllib.request

import psycopg


def test_postgres_fixture_gives_an_empty_database(postgres):
    with psycopg.connect(postgres.dsn) as conn:
        assert conn.execute("select current_database()").fetchone()[0] == postgres.dbname
        tables = conn.execute("select count(*) from information_schema.tables where table_schema='public'")
        assert tables.fetchone()[0] == 0


def test_azurite_listens(azurite):
    with socket.create_connection(("127.0.0.1", azurite.port), timeout=2):
        pass


def test_oci_registry_answers_v2(oci_registry):
    with urllib.request.urlopen(f"http://{oci_registry.host}/v2/", timeout=5) as resp:
        assert resp.status == 200
