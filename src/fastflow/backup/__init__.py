"""Backup and restore of one fastflow installation, taken while it serves.

One module one job: `archive` writes and reads the tar, `manifest` describes and checks it,
`keys` seals the key files with a passphrase, `db_sqlite` / `db_postgres` copy the database,
`create` takes a backup, `restore` brings one back, `settle` ends the runs a backup caught
running, `status` and `schedule` are the server's own scheduled backups.
"""
