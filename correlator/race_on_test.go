//go:build race

package correlator

// raceEnabled: the race detector slows the store-restore tests about
// tenfold; they restore at fewer points under it.
const raceEnabled = true
