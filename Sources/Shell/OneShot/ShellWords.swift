// Writing shell text from the one-shot flags: the one-shot forms run the same commands a user would
// type, so there is one implementation of each.

enum ShellWords {
  /// `word` as the lexer will read it back unchanged: bare when it is plainly safe, else in double quotes.
  static func quote(_ word: String) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./,:@%+-<>~")
    if !word.isEmpty, word.allSatisfy({ safe.contains($0) }), !word.hasPrefix("~") { return word }
    var quoted = "\""
    for character in word {
      switch character {
      case "\"", "\\", "$": quoted += "\\\(character)"
      case "\n": quoted += "\\n"
      case "\t": quoted += "\\t"
      default: quoted.append(character)
      }
    }
    return quoted + "\""
  }

  /// `key=value` with the value quoted as needed.
  static func option(_ key: String, _ value: String) -> String { "\(key)=\(quote(value))" }

  /// A command line from its name, positionals and options (nil values left out).
  static func line(
    _ name: String, _ positionals: [String] = [], _ options: [(String, String?)] = [], flags: [(String, Bool)] = []
  )
    -> String
  {
    var words = [name] + positionals.map(quote)
    for (key, value) in options { if let value { words.append(option(key, value)) } }
    for (flag, on) in flags where on { words.append(flag) }
    return words.joined(separator: " ")
  }
}
