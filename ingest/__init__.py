"""Loading the raw Retrosheet game logs and odds workbooks into PostgreSQL."""
