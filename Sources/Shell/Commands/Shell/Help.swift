import Foundation

// `help`, `help CMD`, `help markdown` (the command tables of REPL.md).

enum HelpCommand {
  static let command = Command(
    "help", group: .shell, summary: "List the commands, or show one command's options, defaults and examples",
    positionals: PositionalSpec("COMMAND", .string, minimum: 0, maximum: 1, "a command name"),
    options: [.flag("markdown", settable: false, "Print every command's reference as Markdown (REPL.md's tables)")],
    examples: ["help", "help caption"],
    run: { arguments, session in
      if arguments.flag("markdown") {
        session.out.write(HelpText.markdown())
      } else if let name = arguments.positionals.first {
        guard let command = Registry.find(name) else {
          let hint = closestMatch(to: name, among: Registry.allNames).map { "; did you mean \($0)?" } ?? ""
          throw ShellError("help: unknown command '\(name)'\(hint)", at: arguments.positionalPositions.first)
        }
        session.out.write(HelpText.command(command))
      } else {
        session.out.write(HelpText.overview())
      }
    })
}

/// The texts `help` prints, all derived from the declarations.
enum HelpText {
  static func overview() -> String {
    let width = Registry.commands.map(\.name.count).max() ?? 8
    var text = ""
    for group in Command.Group.allCases {
      let commands = Registry.commands.filter { $0.group == group }
      guard !commands.isEmpty else { continue }
      text += "\(group.rawValue):\n"
      for command in commands {
        text += "  " + command.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + command.summary + "\n"
      }
    }
    text += "\n`help COMMAND` shows its options; `set option=value` changes a default for the session.\n"
    return text
  }

  static func command(_ command: Command) -> String {
    var text = "\(command.usage)\n\n\(command.summary).\n"
    if !command.aliases.isEmpty { text += "Also: \(command.aliases.joined(separator: ", ")).\n" }
    if !command.details.isEmpty { text += "\n\(command.details)\n" }
    if let positionals = command.positionals {
      text += "\n  \(positionals.usage)  \(positionals.help)\n"
    }
    if !command.options.isEmpty {
      text += "\nOptions:\n"
      let rows = command.options.map { option -> (String, String) in
        let left = option.type.isFlag ? option.name : "\(option.name)=\(option.type.hint)"
        var right = option.help
        if let value = option.defaultValue, !option.type.isFlag || value == .bool(true) {
          right += " (default \(value.description.isEmpty ? "\"\"" : value.description))"
        }
        return (left, right)
      }
      let width = min(rows.map(\.0.count).max() ?? 0, 34)
      for (left, right) in rows {
        if left.count > width {
          text += "  \(left)\n  \(String(repeating: " ", count: width))  \(right)\n"
        } else {
          text += "  \(left.padding(toLength: width, withPad: " ", startingAt: 0))  \(right)\n"
        }
      }
    }
    text += "\nExample\(command.examples.count > 1 ? "s" : ""):\n"
    for example in command.examples { text += "  \(example)\n" }
    return text
  }

  /// REPL.md's reference section: a summary table, then one section per command.
  static func markdown() -> String {
    func cell(_ text: String) -> String {
      text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
    var text = "| Command | What it does |\n|---|---|\n"
    for command in Registry.commands {
      text += "| [`\(command.name)`](#\(command.name)) | \(cell(command.summary)) |\n"
    }
    for group in Command.Group.allCases {
      let commands = Registry.commands.filter { $0.group == group }
      guard !commands.isEmpty else { continue }
      text += "\n### \(group.rawValue)\n"
      for command in commands {
        text += "\n#### \(command.name)\n\n`\(command.usage)`\n\n\(command.summary).\n"
        if !command.aliases.isEmpty { text += "Also: \(command.aliases.map { "`\($0)`" }.joined(separator: ", ")).\n" }
        if !command.details.isEmpty { text += "\n\(command.details)\n" }
        if !command.options.isEmpty || command.positionals != nil {
          text += "\n| Option | Type | Default | Meaning |\n|---|---|---|---|\n"
          if let positionals = command.positionals {
            text += "| `\(positionals.usage)` | \(cell(positionals.type.hint)) | | \(cell(positionals.help)) |\n"
          }
          for option in command.options {
            let written = option.type.isFlag ? option.name : "\(option.name)="
            let value =
              option.defaultValue == .bool(false)
              ? "" : option.defaultValue.map { $0.description.isEmpty ? "\"\"" : "`\(cell($0.description))`" } ?? ""
            let settable = option.settable ? "" : " (not settable)"
            text += "| `\(written)` | \(cell(option.type.hint)) | \(value) | \(cell(option.help))\(settable) |\n"
          }
        }
        text += "\n```\n" + command.examples.joined(separator: "\n") + "\n```\n"
      }
    }
    return text
  }
}
