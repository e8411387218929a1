package workflow

// Test helpers for the external test package.
var (
	TestSQLite   = newSQLite
	TestPostgres = newPostgres
)
