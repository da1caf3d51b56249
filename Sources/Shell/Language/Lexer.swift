// The shell's lexical rules, close to a POSIX shell's so that they surprise nobody:
//   words split on blanks; `;` or a newline ends a command; `#` at the start of a word comments out
//   the rest of the line; "double quotes" allow the escapes \" \\ \n \t \$; 'single quotes' are
//   literal; outside quotes a backslash makes the next character literal, and a backslash at the end
//   of a line continues the command on the next line; `$1`..`$9` are script arguments (`$0` the
//   script's name). `key=value` is an option when `key` is an unquoted identifier.

/// One word of a command, after quotes and escapes are removed.
public struct Word: Equatable, Sendable {
  /// The whole word, unquoted (`beams=3`, `a b` from `"a b"`).
  public var text: String
  public var position: SourcePosition
  /// Set when the word is `key=value` with an unquoted identifier before the first unquoted `=`.
  public var key: String?
  /// The unquoted text after `=` when `key` is set.
  public var value: String?
}

/// The words of one command (`load ...`), in source order.
public struct Statement: Equatable, Sendable {
  public var words: [Word]
  public var position: SourcePosition { words.first?.position ?? SourcePosition(line: 1, column: 1) }
}

public struct Lexer {
  private let characters: [Character]
  private let arguments: [String]
  private var index = 0
  private var line: Int
  private var column = 1

  /// `arguments[0]` is what `$0` expands to; `$N` beyond the end is an error.
  public init(_ text: String, firstLine: Int = 1, arguments: [String] = []) {
    characters = Array(text)
    line = firstLine
    self.arguments = arguments
  }

  /// Splits `text` into commands. Throws at the first lexical error with its line and column.
  public static func statements(_ text: String, firstLine: Int = 1, arguments: [String] = []) throws -> [Statement] {
    var lexer = Lexer(text, firstLine: firstLine, arguments: arguments)
    return try lexer.statements()
  }

  public mutating func statements() throws -> [Statement] {
    var result: [Statement] = []
    var words: [Word] = []
    func endStatement() {
      if !words.isEmpty { result.append(Statement(words: words)) }
      words = []
    }
    while let character = peek() {
      switch character {
      case " ", "\t", "\r":
        advance()
      case "\n", ";":
        advance()
        endStatement()
      case "#":
        while let next = peek(), next != "\n" { advance() }
      case "\\" where peek(1) == "\n":
        advance()
        advance()
      default:
        words.append(try word())
      }
    }
    endStatement()
    return result
  }

  private func peek(_ offset: Int = 0) -> Character? {
    index + offset < characters.count ? characters[index + offset] : nil
  }

  private mutating func advance() {
    if characters[index] == "\n" {
      line += 1
      column = 1
    } else {
      column += 1
    }
    index += 1
  }

  private var here: SourcePosition { SourcePosition(line: line, column: column) }

  /// Reads one word starting at a non-blank character.
  private mutating func word() throws -> Word {
    let start = here
    var text = ""
    // The key of `key=value`: grows while the word is an unquoted identifier, fixed at the first `=`.
    var keyCandidate: String? = ""
    var key: String?
    var valueStart: String.Index?

    func literal(_ piece: String, quoted: Bool) {
      if key == nil, keyCandidate != nil {
        if quoted { keyCandidate = nil } else { keyCandidate! += piece }
      }
      text += piece
    }

    loop: while let character = peek() {
      switch character {
      case " ", "\t", "\r", "\n", ";":
        break loop
      case "=" where key == nil && keyCandidate.map(Lexer.isIdentifier) == true:
        advance()
        key = keyCandidate
        text += "="
        valueStart = text.endIndex
      case "\\":
        let escapeAt = here
        advance()
        guard let next = peek() else {
          throw ShellError("a backslash ends the input at column \(escapeAt.column)", at: escapeAt)
        }
        if next == "\n" {
          advance()  // line continuation inside a word joins it with the next line
        } else {
          advance()
          literal(String(next), quoted: true)
        }
      case "'":
        let quoteAt = here
        advance()
        var piece = ""
        while true {
          guard let next = peek() else {
            throw ShellError("unterminated ' quote opened at column \(quoteAt.column)", at: quoteAt)
          }
          advance()
          if next == "'" { break }
          piece.append(next)
        }
        literal(piece, quoted: true)
      case "\"":
        literal(try doubleQuoted(), quoted: true)
      case "$" where peek(1)?.isASCII == true && peek(1)?.isNumber == true:
        let dollarAt = here
        advance()
        literal(try argument(at: dollarAt), quoted: true)
      default:
        advance()
        literal(String(character), quoted: false)
      }
    }
    if let key, let valueStart {
      return Word(text: text, position: start, key: key, value: String(text[valueStart...]))
    }
    return Word(text: text, position: start, key: nil, value: nil)
  }

  private mutating func doubleQuoted() throws -> String {
    let quoteAt = here
    advance()
    var piece = ""
    while true {
      guard let next = peek() else {
        throw ShellError("unterminated \" quote opened at column \(quoteAt.column)", at: quoteAt)
      }
      switch next {
      case "\"":
        advance()
        return piece
      case "\\":
        let escapeAt = here
        advance()
        guard let escaped = peek() else {
          throw ShellError("unterminated \" quote opened at column \(quoteAt.column)", at: quoteAt)
        }
        advance()
        switch escaped {
        case "\"", "\\", "$", "'": piece.append(escaped)
        case "n": piece.append("\n")
        case "t": piece.append("\t")
        case "\n": break  // continuation inside quotes
        default:
          throw ShellError(
            "unknown escape \\\(escaped) at column \(escapeAt.column) (known: \\\" \\\\ \\n \\t \\$; write \\\\ for a backslash)",
            at: escapeAt)
        }
      case "$" where peek(1)?.isASCII == true && peek(1)?.isNumber == true:
        let dollarAt = here
        advance()
        piece += try argument(at: dollarAt)
      default:
        advance()
        piece.append(next)
      }
    }
  }

  /// `$N` after the `$` was consumed: one or more digits.
  private mutating func argument(at position: SourcePosition) throws -> String {
    var digits = ""
    while let next = peek(), next.isASCII, next.isNumber {
      digits.append(next)
      advance()
    }
    guard let number = Int(digits), number < arguments.count else {
      let given = max(arguments.count - 1, 0)
      throw ShellError(
        "$\(digits) at column \(position.column): the script was given \(given) argument\(given == 1 ? "" : "s")",
        at: position)
    }
    return arguments[number]
  }

  static func isIdentifier(_ text: String) -> Bool {
    func letter(_ c: Unicode.Scalar) -> Bool { c == "_" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
    guard let first = text.unicodeScalars.first, letter(first) else { return false }
    return text.unicodeScalars.allSatisfy { letter($0) || ("0"..."9").contains($0) }
  }
}
