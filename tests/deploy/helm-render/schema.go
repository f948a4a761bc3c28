package main

import (
	"fmt"
	"sort"

	"github.com/xeipuuv/gojsonschema"
)

// ValidateValues checks the merged values against the chart's
// values.schema.json with the validator helm 3 uses (gojsonschema); the
// result is one line per violation ("field: why"), sorted.
func ValidateValues(schema []byte, values map[string]interface{}) ([]string, error) {
	if schema == nil {
		return nil, nil
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema),
		gojsonschema.NewGoLoader(values))
	if err != nil {
		return nil, fmt.Errorf("values.schema.json: %v", err)
	}
	var problems []string
	for _, e := range result.Errors() {
		problems = append(problems, fmt.Sprintf("%s: %s", e.Field(), e.Description()))
	}
	sort.Strings(problems)
	return problems, nil
}
