// Package tools pins the versions of the code generators the project runs.
// It lives outside the workspace (go.work) so that the generators' own
// dependencies never change the versions the project's modules build with.
package tools
