// `tokenize TEXT`: the loaded model's tokenizer on a text or a caption file (how long is this caption?).

enum TokenizeCommand {
  static let command = Command(
    "tokenize", group: .model, summary: "Show the token ids, tokens and count of a text or caption file",
    positionals: PositionalSpec("TEXT", .string, minimum: 0, maximum: 1, "the text (quote it)"),
    options: [
      OptionSpec("file", .path, settable: false, "Read the whole file as the text instead"),
      .flag("json", "One line {\"text\": ..., \"ids\": [...], \"tokens\": [...]} for scripts"),
    ],
    examples: ["tokenize \"A cat on a mat.\"", "tokenize file=photos/cat.txt json"],
    run: { arguments, session in
      if arguments.positionals.isEmpty == (arguments.string("file") == nil) {
        throw ShellError("tokenize: give either TEXT or file=PATH")
      }
      throw notAvailableYet("tokenize", "the tokenizer")
    })
}
