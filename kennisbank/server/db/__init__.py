"""The store: every SQL statement, each database's specifics, the migrations and the copy between databases."""
