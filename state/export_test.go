package state

// PostgresDDL is the rewrite migrations get on PostgreSQL, for tests that
// build an older schema by hand.
var PostgresDDL = postgresDialect.ddl
