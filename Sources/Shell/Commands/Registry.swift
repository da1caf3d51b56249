// The one list of commands. Adding a command = one file declaring `static let command` + one line here.

public enum Registry {
  public static let commands: [Command] = [
    HelpCommand.command, SetCommand.command, UnsetCommand.command, ShowCommand.command, SourceCommand.command,
    EchoCommand.command, ThreadsCommand.command, QuitCommand.command,
    LoadCommand.command, TokenizeCommand.command, CaptionCommand.command, FeaturesCommand.command,
    LoraCommand.command, UseCommand.command, DropCommand.command, SaveCommand.command, MergeCommand.command,
    UnmergeCommand.command,
    DatasetCommand.command, TrainCommand.command, SampleCommand.command, CompareCommand.command,
    EvalCommand.command, PlotCommand.command,
  ]

  public static func find(_ name: String) -> Command? {
    commands.first { $0.name == name || $0.aliases.contains(name) }
  }

  /// Names and aliases, for did-you-mean and completion.
  public static var allNames: [String] { commands.flatMap { [$0.name] + $0.aliases } }

  /// Every declaration of an option called `name` across commands (for `set`).
  static func declarations(of name: String) -> [(command: Command, option: OptionSpec)] {
    commands.compactMap { command in command.option(name).map { (command, $0) } }
  }

  /// Every option name `set` accepts.
  static var settableNames: [String] {
    var seen = Set<String>()
    return commands.flatMap(\.options).filter(\.settable).map(\.name).filter { seen.insert($0).inserted }
  }
}
