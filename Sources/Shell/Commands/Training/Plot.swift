import FlrPlot
import FlrTrain
import Foundation

// `plot loss|lr out=FILE.png`: the current or last run's curves as a PNG chart (axes, ticks, title, legend),
// drawn by FlrPlot and written through libpng.

enum PlotCommand {
  static let command = Command(
    "plot", group: .training, summary: "Draw the last run's loss or learning-rate curves as a PNG chart",
    positionals: PositionalSpec("WHAT", .choice(["loss", "lr"]), "loss (train and val) or lr"),
    options: [
      OptionSpec("out", .path, settable: false, "The .png file to write (default: loss.png or lr.png)"),
      OptionSpec("width", .int(320...4096), default: .int(960), "Image width in pixels"),
      OptionSpec("height", .int(240...4096), default: .int(600), "Image height in pixels"),
    ],
    examples: ["plot loss out=loss.png", "plot lr out=lr.png width=1200 height=700"],
    details: """
      loss: the train loss of every optimizer step and the validation loss (eval_every_*) as points, against \
      the step. lr: the learning rate of every step, and ProdigyPlusScheduleFree's effective d*lr per parameter \
      group. The run is the current or last `train` of this session (`show run` prints it as a table).
      """,
    run: { try run($0, $1) })

  static func run(_ arguments: Arguments, _ session: Session) throws {
    guard let trainer = session.training.trainer, !trainer.history.steps.isEmpty else {
      throw ShellError("plot: no training steps in this session yet (train ...)")
    }
    let what = arguments.positionals.first ?? "loss"
    let path = arguments.string("out") ?? "\(what).png"
    var chart = what == "lr" ? lrChart(trainer.history) : lossChart(trainer.history)
    chart.title += " - \(trainer.settings.name)"
    chart.width = arguments.int("width") ?? 960
    chart.height = arguments.int("height") ?? 600
    do {
      try PNGWriter.write(chart.render(), to: URL(fileURLWithPath: path))
    } catch let error as PNGWriter.WriteError {
      throw ShellError("plot: \(error.description)")
    }
    session.note(
      "plot: wrote \(path) (\(chart.width)x\(chart.height), \(what) over \(trainer.history.steps.count) steps)")
  }

  static func lossChart(_ h: TrainingHistory) -> LineChart {
    var series = [
      LineChart.Series(
        "train loss", color: LineChart.palette[0], points: h.steps.map { .init(Double($0.step), $0.loss) })
    ]
    if !h.validations.isEmpty {
      series.append(
        LineChart.Series(
          "val loss", color: LineChart.palette[1], points: h.validations.map { .init(Double($0.step), $0.loss) },
          markers: true))
    }
    return LineChart(title: "Loss", xLabel: "optimizer step", yLabel: "loss", series: series)
  }

  static func lrChart(_ h: TrainingHistory) -> LineChart {
    let groups = h.steps.map(\.effectiveLR.count).max() ?? 0
    var series: [LineChart.Series] = []
    if groups == 0 {
      series.append(
        LineChart.Series("lr", color: LineChart.palette[0], points: h.steps.map { .init(Double($0.step), $0.lr) }))
    }
    for g in 0..<groups {
      series.append(
        LineChart.Series(
          "d*lr group \(g)", color: LineChart.palette[g % LineChart.palette.count],
          points: h.steps.map { .init(Double($0.step), g < $0.effectiveLR.count ? $0.effectiveLR[g] : .nan) }))
    }
    return LineChart(
      title: groups == 0 ? "Learning rate" : "Effective learning rate (Prodigy d*lr)", xLabel: "optimizer step",
      yLabel: groups == 0 ? "lr" : "d*lr", series: series)
  }
}
