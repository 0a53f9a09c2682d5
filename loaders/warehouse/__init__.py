"""Warehouse targets behind one interface (base.py): PostgreSQL `COPY FROM STDIN` locally (postgres.py), Redshift `COPY` from S3 manifests through the Data API (redshift.py)."""
