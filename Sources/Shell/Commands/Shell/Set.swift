// `set key=value`: session defaults for any command's options, plus the shell's own settings.

enum SetCommand {
  /// The shell's own settings (no command has them as options).
  static let shellOptions: [OptionSpec] = [
    OptionSpec("threads", .int(1...1024), "Worker threads for the numeric kernels (default: the machine's cores)"),
    OptionSpec("history_size", .int(0...1_000_000), default: .int(1000), "Lines kept in ~/.flr_history"),
    OptionSpec(
      "progress", .choice(["auto", "bar", "lines", "off"]), default: .string("auto"),
      "Progress: a bar on a terminal and periodic lines otherwise (auto or bar; never a bar where stderr is not a "
        + "terminal), always lines (lines), or none (off)"),
    OptionSpec(
      "progress_every", .float(0...3600), default: .float(10),
      "Seconds between progress lines (0: one at every image or training step)"),
  ]

  static let command = Command(
    "set", group: .shell, summary: "Change defaults for this session (any command's option, or a shell setting)",
    positionals: PositionalSpec("FLAG", .string, minimum: 0, maximum: nil, "a flag option to turn on"),
    options: shellOptions,
    examples: ["set beams=1 max_tokens=40", "set threads=2", "set recursive", "set"],
    details: """
      Without arguments it prints the current settings. A value set here is the default of every command \
      that has an option of that name, until `unset NAME` or the end of the session; a value on the command \
      line still wins. Values are checked against each command that uses them.
      """,
    acceptsAnyOption: true,
    run: { arguments, session in
      var pairs = arguments.extra.map { ($0.key, $0.value, $0.position) }
      for (index, name) in arguments.positionals.enumerated() {
        pairs.append((name, "true", arguments.positionalPositions[index]))
      }
      for option in shellOptions where arguments.given.contains(option.name) {
        pairs.append((option.name, arguments.values[option.name]?.description ?? "", arguments.position))
      }
      if pairs.isEmpty {
        ShowCommand.showSettings(session)
        return
      }
      for (key, value, position) in pairs {
        try validate(key: key, value: value, at: position, flagOnly: arguments.positionals.contains(key))
        session.settings[key] = value
        if key == "threads", let threads = Int(value) { try ThreadsCommand.apply(threads, session) }
      }
    })

  /// Checks `key=value` against every declaration of `key`; a flag written bare must be a flag.
  static func validate(key: String, value: String, at position: SourcePosition, flagOnly: Bool) throws {
    let declarations = Registry.declarations(of: key)
    guard !declarations.isEmpty else {
      let hint = closestMatch(to: key, among: Registry.settableNames).map { "; did you mean \($0)?" } ?? ""
      throw ShellError("set: no command has an option \(key)\(hint)", at: position)
    }
    for (command, option) in declarations {
      guard option.settable else {
        throw ShellError("set: \(key)= belongs to each \(command.name) call and cannot be set", at: position)
      }
      if flagOnly, !option.type.isFlag {
        throw ShellError("set: \(key) needs a value: \(key)=\(option.type.hint)", at: position)
      }
      do {
        _ = try option.parse(value)
      } catch let error as ShellError {
        let owner = command.name == "set" ? "" : " (for \(command.name))"
        throw ShellError("set: \(error.message)\(owner)", at: position)
      }
    }
  }
}

enum UnsetCommand {
  static let command = Command(
    "unset", group: .shell, summary: "Forget `set` values, back to the declared defaults",
    positionals: PositionalSpec("NAME", .string, minimum: 1, maximum: nil, "settings to forget, or `all`"),
    examples: ["unset beams", "unset all"],
    run: { arguments, session in
      for (index, name) in arguments.positionals.enumerated() {
        if name == "all" {
          session.settings = [:]
        } else if session.settings.removeValue(forKey: name) == nil {
          throw ShellError("unset: \(name) is not set", at: arguments.positionalPositions[index])
        }
      }
    })
}
