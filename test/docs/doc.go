// Package docs runs the commands of README.md and docs/*.md, in order, on a
// fresh copy of the repository, so that what the documentation tells a
// reader to type keeps working. The test is slow (minutes: it starts
// devnets) and runs only when FOMO_DOCS_TEST=1 (`make docs-test`).
//
// A fenced block whose info string is `sh` is run, one command at a time:
// a line, with its continuation lines (a trailing backslash) and the body of
// a here-document. A block of any other info string (`console`, `text`,
// `toml`, …) is only shown. A `console` block holds commands a reader types
// that do not run here (they need root, systemd, Docker or a cold release
// build, or are a quick reference whose commands run in a walkthrough): the
// line before its fence says why, <!-- shown only: needs root -->, as
// TestConsoleBlocksSayWhy (run by `make test`) checks. A docs-test comment on the line before a block's
// fence says how to run it:
//
//	<!-- docs-test: bg="make run" ready="^epoch \d+ closed" var="API:node0 api=(\S+)" -->
//
// Its keys:
//
//   - skip: the block is not run; skip=PREFIX: its commands that start with
//     PREFIX are not run.
//   - bg=PREFIX: commands that start with PREFIX run in the background (their
//     own process group) until a later block's stop=PREFIX or the end of the
//     file, when they get SIGINT; ready=REGEXP is the output line the test
//     waits for before it goes on.
//   - new: for ready, a line that an earlier background command printed does
//     not count: a devnet started again over the same directory first prints
//     the epochs closed before, and only a new one shows that the network
//     runs again.
//   - stop=PREFIX: before the block, stop the background commands that start
//     with PREFIX.
//   - var=NAME:REGEXP: once a command of the block has run (a background
//     one: is ready), the first submatch of REGEXP in its output becomes the
//     environment variable NAME of every later command.
//   - sub=WORD:NAME: in the block's commands, the whole word WORD (a
//     placeholder such as PORT, or an address) is replaced by the value of
//     variable NAME.
//   - timeout=DURATION: each command's limit (default 3m; a background
//     command's until it is ready).
//
// Commands run with bash -o pipefail, starting in the copy's root, with bin/
// first in PATH (so `fomo` is the binary `make build` wrote there) and HOME a
// fresh directory. As in a terminal, a command sees the variables that
// earlier ones set and the directory they changed to. A directive's value
// with blanks is quoted, "like this", and taken as it is (no escapes). The
// first command that fails stops the test with its file, line, command and
// output.
package docs
