"""Project checks: the offline Redshift gate (compile and parse every model for Redshift) and sqlfluff."""
