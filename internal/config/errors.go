package config

import "errors"

// ErrSyntax reports a file that is not well-formed YAML.
var ErrSyntax = errors.New("yaml syntax error")

// ErrUnknownKey reports a mapping key that hookrelay does not know.
var ErrUnknownKey = errors.New("unknown key")

// ErrAlias reports a YAML alias or "<<" merge key that refers back to a node
// containing it, or aliases that expand to too many values.
var ErrAlias = errors.New("alias error")

// ErrDuplicateKey reports a key given twice in one mapping.
var ErrDuplicateKey = errors.New("duplicate key")

// ErrType reports a value of the wrong kind or one that does not parse
// (for example a sequence where a string is expected, or "ten" for an integer).
var ErrType = errors.New("wrong type")

// ErrRequired reports a required value that is missing or empty.
var ErrRequired = errors.New("required value missing")

// ErrInvalidValue reports a value that parses but is not allowed (out of
// range, not one of the accepted names, malformed address, ...).
var ErrInvalidValue = errors.New("invalid value")

// ErrDuplicateName reports two webhooks with the same name.
var ErrDuplicateName = errors.New("duplicate webhook name")

// ErrEnv reports a malformed ${VAR} reference, or a variable used in a
// webhook header that is not set in the environment.
var ErrEnv = errors.New("environment variable error")

// ErrURL reports a URL refused by the URL policy of package sender.
var ErrURL = errors.New("url not allowed")

// ErrTemplate reports a body template that does not compile.
var ErrTemplate = errors.New("template does not compile")
