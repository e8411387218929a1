package policy

import _ "embed"

// Schema is the JSON Schema (draft 2020-12) of the policy file. Editors can
// use it for completion and checks; Parse enforces the same rules and more
// (unique repository names, positions in every message).
//
//go:embed schema.json
var Schema []byte
