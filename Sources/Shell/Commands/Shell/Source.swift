// `source FILE`: run a script in this session (its settings and model stay afterwards).

enum SourceCommand {
  static let command = Command(
    "source", group: .shell, summary: "Run the commands of a .flr script in this session",
    positionals: PositionalSpec(
      "FILE", .path, minimum: 1, maximum: nil, "the script, then its arguments ($1, $2, ...)"),
    examples: ["source setup.flr", "source caption-folder.flr photos/"],
    details: "The script stops at its first error, which is reported as FILE:LINE: message.",
    run: { arguments, session in
      try Interpreter(session: session).runFile(
        arguments.positionals[0], arguments: Array(arguments.positionals.dropFirst()))
    })
}

enum EchoCommand {
  static let command = Command(
    "echo", group: .shell, summary: "Print its words (for scripts)",
    positionals: PositionalSpec("TEXT", .string, minimum: 0, maximum: nil, "words, joined by spaces"),
    examples: ["echo \"captioning done\""],
    run: { arguments, session in session.out.line(arguments.positionals.joined(separator: " ")) })
}

enum QuitCommand {
  static let command = Command(
    "quit", aliases: ["exit"], group: .shell, summary: "Leave flr (Ctrl-D does the same)",
    positionals: PositionalSpec("CODE", .int(0...255), minimum: 0, maximum: 1, "exit status (default 0)"),
    examples: ["quit", "exit 1"],
    run: { arguments, _ in
      throw ShellError("quit", kind: .quit(code: Int32(arguments.positionals.first.flatMap { Int($0) } ?? 0)))
    })
}
