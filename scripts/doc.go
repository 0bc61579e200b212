// Package scripts holds the repository's shell scripts (fuzz.sh); its
// tests run them.
package scripts
