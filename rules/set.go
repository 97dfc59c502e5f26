package rules

// Set is a compiled, immutable rule set.
type Set struct {
	Matrix Matrix
}
