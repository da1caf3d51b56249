import FlrCore
import FlrModel
import FlrTrain
import Foundation

// `show [model|settings|lora|dataset|run]`: what the session holds.

enum ShowCommand {
  static let topics = ["model", "settings", "lora", "dataset", "run"]

  static let command = Command(
    "show", group: .shell, summary: "Show the session: loaded model, settings, adapters, dataset, training run",
    positionals: PositionalSpec("WHAT", .choice(topics), minimum: 0, maximum: 1, "one part (default: all)"),
    examples: ["show", "show settings", "show model", "show run"],
    details: """
      `show run` prints the current or last training run of the session: per epoch the mean train loss, the \
      last validation loss (train eval_every_*), the lr of the epoch's last step (ProdigyPlusScheduleFree: its \
      effective d*lr, group 0) and the seconds per step, then a sparkline of the step losses.
      """,
    run: { arguments, session in
      let topics = arguments.positionals.isEmpty ? ShowCommand.topics : arguments.positionals
      for topic in topics {
        switch topic {
        case "model": showModel(session)
        case "settings": showSettings(session)
        case "lora": AdapterActions.show(session)
        case "run": showRun(session)
        default: showDataset(session)
        }
      }
    })

  static func showRun(_ session: Session) {
    guard let trainer = session.training.trainer else {
      session.out.line("run: none (train ...)")
      return
    }
    for line in RunReport.table(trainer) { session.out.line(line) }
  }

  /// Counts, caption token lengths (with the loaded model's tokenizer) and resident memory.
  static func showDataset(_ session: Session) {
    guard let dataset = session.training.dataset else {
      session.out.line("dataset: none (dataset DIR)")
      return
    }
    session.out.line("dataset: \(dataset.location.path)")
    guard let tokenizer = session.model?.tokenizer else {
      session.out.line("  \(dataset.summary) (load a model for caption token lengths)")
      return
    }
    for line in dataset.stats(tokenizer: tokenizer).description.split(separator: "\n") {
      session.out.line("  \(line)")
    }
  }

  static func showModel(_ session: Session) {
    guard let model = session.model else {
      session.out.line("model: none (load MODEL)")
      return
    }
    let revision = model.revision.map { " revision \($0)" } ?? ""
    let sameFolder =
      URL(fileURLWithPath: expandTilde(model.source)).standardizedFileURL.path
      == URL(fileURLWithPath: model.folder).standardizedFileURL.path
    session.out.line("model: \(model.source)\(revision)\(sameFolder ? "" : " from \(model.folder)")")
    let text = model.model.config.text, vision = model.model.config.vision
    session.out.line(
      "  vision: DaViT dims \(vision.dimEmbed.map(String.init).joined(separator: ",")), depths "
        + "\(vision.depths.map(String.init).joined(separator: ",")); text: BART d_model \(text.dModel), "
        + "\(text.encoderLayers)+\(text.decoderLayers) layers, vocabulary \(text.vocabSize)")
    let precision = model.model.weightPrecision
    let nf4 = model.model.nf4Layers().count
    session.out.line(
      "  weights: \(nf4 > 0 ? "\(nf4) Linears NF4, the rest fp32" : precision.rawValue)"
        + (precision == .fp32 ? "" : " (\(model.precisionSummary.map { "\($0)" } ?? "converted"))")
        + "; reduced-precision kernels: \(KernelPath.active)")
    let settings = model.generator.settings
    session.out.line(
      "  generation: num_beams \(settings.numBeams), no_repeat_ngram_size \(settings.noRepeatNgramSize), "
        + "early_stopping \(settings.earlyStopping) (beams= overrides num_beams)")
  }

  static func showSettings(_ session: Session) {
    session.out.line("settings:")
    for option in SetCommand.shellOptions {
      let value = session.setting(option.name).map { $0.description } ?? "\(Threads.count) (machine default)"
      let mark = session.settings[option.name] == nil ? "" : " (set)"
      session.out.line("  \(option.name)=\(value)\(mark)")
    }
    let shellNames = Set(SetCommand.shellOptions.map(\.name))
    for key in session.settings.keys.sorted() where !shellNames.contains(key) {
      session.out.line("  \(key)=\(session.settings[key] ?? "") (set)")
    }
    session.out.line("decoding (caption, sample, compare; * = set):")
    for line in DecodingOptions.describe(session) { session.out.line("  " + line) }
  }
}
