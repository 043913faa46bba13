package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/synthetic"
)

// resolveModel turns a MODEL argument into an open model: a path to a file
// or folder in any format ferry reads, a synthetic:PRESET[:TYPE] model, or a
// name in the model store (ferry's own or a discovered one, such as an
// Ollama model).
func resolveModel(arg string) (*model.Model, error) {
	path, err := resolveModelPath(arg)
	if err != nil {
		return nil, err
	}
	return model.Open(path)
}

// resolveModelPath finds the file or folder a MODEL argument names.
func resolveModelPath(arg string) (string, error) {
	if arg == "" {
		return "", fmt.Errorf("no model given")
	}
	if _, err := os.Stat(arg); err == nil {
		return arg, nil
	}
	if synthetic.IsSynthetic(arg) {
		return synthetic.Resolve(arg)
	}
	path, _, err := store.Resolve(arg)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("model %q not found: give a path to a GGUF file or model folder, a name from `ferry list --all`, or synthetic:PRESET[:TYPE]", arg)
		}
		return "", err
	}
	return path, nil
}
