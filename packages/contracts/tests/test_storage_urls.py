from modelops_contracts.storage import journal_url, local_file, postgres_url, postgres_url_from_parts, sqlite_url


def test_storage_urls_are_spelled_once_and_read_back():
    assert journal_url("/runs/r1/optuna.journal") == "journal:///runs/r1/optuna.journal"
    assert sqlite_url("/data/study.db") == "sqlite:////data/study.db"
    assert local_file(journal_url("/runs/r1/optuna.journal")) == "/runs/r1/optuna.journal"
    assert local_file(sqlite_url("/data/study.db")) == "/data/study.db"
    assert local_file("postgresql+psycopg://u@h:5432/db") is None


def test_postgres_urls_get_the_psycopg_driver_unless_they_name_one():
    assert postgres_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert postgres_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert postgres_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert postgres_url_from_parts("u", "h", 5432, "db") == "postgresql+psycopg://u@h:5432/db"
