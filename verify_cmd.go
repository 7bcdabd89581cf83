package main

import (
	"fmt"
	"io"
)

// verifyMain is replaced by bench/verify once it lands.
func verifyMain(_ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "tlslpd bench verify: not built yet")
	return 1
}
