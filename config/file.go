package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"tlslpd/cli"
)

// ErrConfigFile is wrapped by errors in the --config file (exit status 2).
var ErrConfigFile = fmt.Errorf("%w: config file", ErrUsage)

// applyFile sets every flag named in the YAML mapping at path, except the
// ones given on the command line: flags override the file. Keys are flag
// names ("n_bits", "work-timeout"; '-' and '_' are interchangeable); a list
// value sets a repeatable flag once per item.
func applyFile(fs *flag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w %s: %v", ErrConfigFile, path, unwrapPath(err))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		return fmt.Errorf("%w %s: %s", ErrConfigFile, path, strings.Join(strings.Fields(msg), " "))
	}
	if len(doc.Content) == 0 {
		return nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%w %s: line %d: want a mapping of flag names to values", ErrConfigFile, path, root.Line)
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		name := lookupFlag(fs, key.Value)
		switch {
		case name == "":
			return fmt.Errorf("%w %s: line %d: unknown key %q", ErrConfigFile, path, key.Line, key.Value)
		case name == "config" || name == "version":
			return fmt.Errorf("%w %s: line %d: key %q cannot be used inside a config file", ErrConfigFile, path, key.Line, key.Value)
		case seen[name]:
			return fmt.Errorf("%w %s: line %d: key %q given twice", ErrConfigFile, path, key.Line, key.Value)
		}
		seen[name] = true
		if onCommandLine[name] {
			continue
		}
		items, err := scalars(value)
		if err != nil {
			return fmt.Errorf("%w %s: line %d: key %q: %v", ErrConfigFile, path, key.Line, key.Value, err)
		}
		if _, ok := fs.Lookup(name).Value.(repeatable); !ok && value.Kind == yaml.SequenceNode {
			return fmt.Errorf("%w %s: line %d: key %q takes one value, not a list", ErrConfigFile, path, key.Line, key.Value)
		}
		for _, item := range items {
			if err := cli.Set(fs, name, item); err != nil {
				return fmt.Errorf("%w %s: line %d: key %q: invalid value %q: %v", ErrConfigFile, path, value.Line, key.Value, item, cli.Explain(fs, name, err))
			}
		}
	}
	return nil
}

// lookupFlag finds the flag a key names, accepting '-' for '_' and back.
func lookupFlag(fs *flag.FlagSet, key string) string {
	for _, name := range []string{key, strings.ReplaceAll(key, "_", "-"), strings.ReplaceAll(key, "-", "_")} {
		if fs.Lookup(name) != nil {
			return name
		}
	}
	return ""
}

func scalars(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, errors.New("no value")
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: list items must be plain values", c.Line)
			}
			out = append(out, c.Value)
		}
		return out, nil
	}
	return nil, errors.New("want a value or a list of values")
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
