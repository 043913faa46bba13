package eval

import _ "embed"

// SampleText is a short English text of simple stories, the default text
// when a command needs one and the user gave none. It is small: real
// evaluations should use a held-out corpus (e.g. wikitext-2's test set).
//
//go:embed testdata/tinystory.txt
var SampleText string
