// A command is one declaration: name, summary, typed options, an example and the function that runs
// it. Everything else the shell knows about a command (help, completion, did-you-mean, REPL.md) is
// derived from this value, never from a second list.

/// The positional words a command takes (`caption PATH...`).
public struct PositionalSpec: Sendable {
  public var name: String
  public var type: OptionType
  public var minimum: Int
  /// nil: no upper limit.
  public var maximum: Int?
  public var help: String
  /// Whether tab completion offers the resident adapters' names here (`use`, `drop`, `save`).
  public var namesAdapters: Bool

  public init(
    _ name: String, _ type: OptionType = .string, minimum: Int = 1, maximum: Int? = 1, _ help: String,
    namesAdapters: Bool = false
  ) {
    self.name = name
    self.type = type
    self.minimum = minimum
    self.maximum = maximum
    self.help = help
    self.namesAdapters = namesAdapters
  }

  /// `PATH...`, `[CMD]`, `MODEL`.
  public var usage: String {
    let repeated = maximum == nil || (maximum ?? 1) > 1 ? "..." : ""
    return minimum == 0 ? "[\(name)\(repeated)]" : "\(name)\(repeated)"
  }
}

public struct Command: Sendable {
  /// Where `help` lists it.
  public enum Group: String, CaseIterable, Sendable {
    case shell = "Shell"
    case model = "Model and captioning"
    case adapters = "Adapters (LoRA)"
    case training = "Datasets and training"
  }

  public var name: String
  public var aliases: [String]
  public var group: Group
  public var summary: String
  public var positionals: PositionalSpec?
  public var options: [OptionSpec]
  /// One or more example lines, shown by `help NAME` and in REPL.md.
  public var examples: [String]
  /// Longer text for `help NAME` (rules, what it prints); optional.
  public var details: String
  /// `set` takes the options of every other command.
  public var acceptsAnyOption: Bool
  public var run: @Sendable (Arguments, Session) throws -> Void

  public init(
    _ name: String, aliases: [String] = [], group: Group, summary: String, positionals: PositionalSpec? = nil,
    options: [OptionSpec] = [], examples: [String], details: String = "", acceptsAnyOption: Bool = false,
    run: @escaping @Sendable (Arguments, Session) throws -> Void
  ) {
    self.name = name
    self.aliases = aliases
    self.group = group
    self.summary = summary
    self.positionals = positionals
    self.options = options
    self.examples = examples
    self.details = details
    self.acceptsAnyOption = acceptsAnyOption
    self.run = run
  }

  public func option(_ name: String) -> OptionSpec? { options.first { $0.name == name } }

  /// `caption PATH... [task=text] [beams=int 1..16] [recursive] ...`
  public var usage: String {
    var parts = [name]
    if let positionals { parts.append(positionals.usage) }
    for option in options {
      parts.append(option.type.isFlag ? "[\(option.name)]" : "[\(option.name)=\(option.type.hint)]")
    }
    return parts.joined(separator: " ")
  }
}

extension OptionType {
  var isFlag: Bool {
    if case .flag = self { return true }
    return false
  }
}

/// A command's words bound to its declaration: typed values with defaults and `set` values applied.
public struct Arguments: Sendable {
  public let command: Command
  public var positionals: [String]
  public var positionalPositions: [SourcePosition]
  /// Options resolved in order: given on the line, else `set` in the session, else the default.
  public var values: [String: Value]
  /// The options written on this command line (not defaults or settings).
  public var given: Set<String>
  /// For commands that accept any option (`set`): the `key=value` words in order.
  public var extra: [(key: String, value: String, position: SourcePosition)]
  public var position: SourcePosition

  public func int(_ name: String) -> Int? {
    if case .int(let value)? = values[name] { return value }
    return nil
  }
  public func double(_ name: String) -> Double? {
    switch values[name] {
    case .float(let value)?: return value
    case .int(let value)?: return Double(value)
    default: return nil
    }
  }
  public func string(_ name: String) -> String? {
    if case .string(let value)? = values[name] { return value }
    return nil
  }
  public func flag(_ name: String) -> Bool {
    if case .bool(let value)? = values[name] { return value }
    return false
  }
}
