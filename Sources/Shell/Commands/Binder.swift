// Binds a statement's words to a command declaration: the place where unknown options, missing
// values, type and range errors are found and reported with the word's position.

enum Binder {
  /// `settings`: the session's `set` values, as text, parsed here with this command's types.
  static func bind(_ statement: Statement, to command: Command, settings: [String: String]) throws -> Arguments {
    var arguments = Arguments(
      command: command, positionals: [], positionalPositions: [], values: [:], given: [], extra: [],
      position: statement.position)
    let optionNames = command.options.map(\.name)
    for word in statement.words.dropFirst() {
      if let key = word.key, let value = word.value {
        guard let option = command.option(key) else {
          if command.acceptsAnyOption {
            arguments.extra.append((key, value, word.position))
            continue
          }
          let hint = closestMatch(to: key, among: optionNames).map { "; did you mean \($0)=?" } ?? ""
          let known =
            optionNames.isEmpty ? " (it takes no options)" : hint.isEmpty ? "; see `help \(command.name)`" : ""
          throw ShellError("\(command.name): unknown option \(key)=\(hint)\(known)", at: word.position)
        }
        if arguments.given.contains(key) {
          throw ShellError("\(command.name): \(key)= is given twice", at: word.position)
        }
        do {
          arguments.values[key] = try option.parse(value)
        } catch let error as ShellError {
          throw ShellError("\(command.name): \(error.message)", at: word.position)
        }
        arguments.given.insert(key)
        continue
      }
      if let option = command.option(word.text) {
        guard option.type.isFlag else {
          throw ShellError(
            "\(command.name): \(option.name) needs a value: \(option.name)=\(option.type.hint)", at: word.position)
        }
        arguments.values[option.name] = .bool(true)
        arguments.given.insert(option.name)
        continue
      }
      if let problem = MistakenWords.problem(word.text, command: command) {
        throw ShellError("\(command.name): \(problem)", at: word.position)
      }
      guard let spec = command.positionals else {
        let hint = closestMatch(to: word.text, among: optionNames).map { "; did you mean \($0)?" } ?? ""
        throw ShellError("\(command.name): unexpected word '\(word.text)'\(hint)", at: word.position)
      }
      if let maximum = spec.maximum, arguments.positionals.count >= maximum {
        let hint = closestMatch(to: word.text, among: optionNames).map { "; did you mean \($0)?" } ?? ""
        throw ShellError(
          "\(command.name): too many arguments at '\(word.text)' (usage: \(command.name) \(spec.usage))\(hint)",
          at: word.position)
      }
      var text = word.text
      if case .string = spec.type {
      } else {
        do {
          text = try OptionSpec(spec.name, spec.type, "").parse(text).description
        } catch let error as ShellError {
          throw ShellError("\(command.name): \(error.message)", at: word.position)
        }
      }
      arguments.positionals.append(text)
      arguments.positionalPositions.append(word.position)
    }
    if let spec = command.positionals, arguments.positionals.count < spec.minimum {
      throw ShellError("\(command.name): missing \(spec.name) (usage: \(command.usage))", at: statement.position)
    }
    for option in command.options where arguments.values[option.name] == nil {
      if option.settable, let text = settings[option.name] {
        do {
          arguments.values[option.name] = try option.parse(text)
        } catch let error as ShellError {
          throw ShellError("\(command.name): \(error.message) (from `set \(option.name)=`)", at: statement.position)
        }
      } else if let value = option.defaultValue {
        arguments.values[option.name] = value
      }
    }
    return arguments
  }
}
