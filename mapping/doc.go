// Package mapping turns 1C:Enterprise OData records into virtpos API parameters
// through declarative field maps (DESIGN.md section 7) and ships the built-in
// profile defaults (section 8).
//
// A field map is compiled once from config (Compile), then applied to every
// record (Map.Apply). Application never reveals personal values in errors: a
// failing field is reported with its name, the 1C source and the value's shape
// only, so errors can go to logs, events and dead letters as they are.
package mapping
