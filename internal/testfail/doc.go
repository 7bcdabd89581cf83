// Package testfail lets the tests of the shared test helpers check that a
// helper fails the test it is given, and with what words: Run hands the
// helper a stand-in for the test that records the failure and ends the
// helper as t.FailNow does, while the real test goes on.
//
// Only _test.go files import it; it imports nothing of tlslpd.
package testfail
