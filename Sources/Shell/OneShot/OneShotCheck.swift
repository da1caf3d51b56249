import Foundation

// The one-shot forms check every argument before the first command runs: each line is bound to its command
// (types and ranges: `--batch_size 0` is batch=0) and each command's checks that need no model run (paths exist,
// flags that contradict, the training options), so a mistake is reported at once, not after loading a model.

enum OneShotCheck {
  static func check(_ lines: [String]) throws {
    for line in lines {
      for statement in try Lexer.statements(line) {
        guard let name = statement.words.first?.text, let command = Registry.find(name) else { continue }
        let arguments = try Binder.bind(statement, to: command, settings: [:])
        switch command.name {
        case "caption": try CaptionCommand.check(arguments)
        case "train": try TrainCommand.check(arguments)
        case "dataset":
          if let path = arguments.positionals.first, !FileManager.default.fileExists(atPath: expandTilde(path)) {
            throw ShellError("dataset: no such file or folder: \(path)")
          }
        case "load":
          if let folder = arguments.string("adapter"),
            !FileManager.default.fileExists(atPath: expandTilde(folder) + "/adapter_config.json")
          {
            throw ShellError("load: \(folder): no adapter_config.json (not a PEFT adapter folder)")
          }
        default: break
        }
      }
    }
  }
}
