// SPDX-License-Identifier: GPL-3.0-or-later
//
// Flamenco job type "VGGT Reconstruct": one task per shot of a shot manifest, each running
//   {blender} {blenderArgs} -c vggt --manifest=SHOTS.csv --shot-index=N --out=OUTPUT --device=D --model=M
//       --options=FRAME_OPTIONS --options=EXTRA_ARGS
// (a shot writes OUTPUT/NAME/NAME.blend and, last, OUTPUT/NAME/summary.json, every other output under
// OUTPUT/NAME/; a failed shot fails its task with one line "vggt: error: ..." in the task log).
// Manifest format: vggt_core/run/batch.py. Keep the manifest's inputs relative to its own folder: Flamenco's
// two-way variables translate the settings' paths for each worker's platform, but the CSV's content is
// read by our command on the worker, untouched by the Manager.
//
// Every value travels as one element of the command's argument array (the Worker runs no shell); the two
// option strings are split and checked by our command itself, which refuses unknown options in one line.
// Written against Flamenco 3's job-type API: JOB_TYPE (AvailableJobType settings), compileJob(job),
// author.Task(name, type), author.Command("blender-render", {exe, exeArgs, argsBefore, blendfile, args}),
// task.addCommand, job.addTask; the Worker runs exe, split(exeArgs), argsBefore, blendfile (when not
// empty), args. Not yet run on a real Manager (docs/farm.md).
//
// Install: copy this file into the `scripts` folder next to the flamenco-manager executable and restart
// the Manager. Workers need Blender with the vggt_blender extension and its dependencies (docs/farm.md).
// GPU workers: give them a worker tag (e.g. "GPU") in the Manager and submit the job with that tag
// (the add-on's tag menu, or "worker_tag" in the job JSON); tasks have the standard "blender" type.

const JOB_TYPE = {
    label: "VGGT Reconstruct",
    description: "Cameras, depth and points with VGGT, one Blender task per shot of a shot manifest",
    settings: [
        { key: "shot_manifest", type: "string", subtype: "file_path", required: true,
          description: "Shot manifest CSV (name,input,start,end,args) on shared storage" },
        { key: "shots", type: "string", required: true, default: "0",
          description: "Manifest rows to run (0-based): '0-199' or '0,3,7-9'" },
        { key: "output_dir", type: "string", subtype: "dir_path", required: true,
          description: "Shot NAME writes OUTPUT/NAME/NAME.blend and OUTPUT/NAME/summary.json" },
        { key: "model_source", type: "string", default: "",
          description: "Checkpoint on shared storage or Hugging Face repo id "
              + "(empty: $VGGT_WEIGHTS, else facebook/VGGT-1B)" },
        { key: "device", type: "string", choices: ["auto", "cuda", "mps", "cpu"], default: "auto",
          description: "Compute device on the workers" },
        { key: "frame_options", type: "string", default: "",
          description: "Frame selection for every shot, e.g. '--max-frames 40 --fps 4' (manifest rows win); "
              + "split by our command (quotes group, no shell)" },
        { key: "extra_args", type: "string", default: "",
          description: "Other options of blender -b -c vggt "
              + "(lens/refine, --export-colmap colmap, --render preview.png ...)" },
    ],
};

function compileJob(job) {
    const settings = checkSettings(job.settings);
    for (const shot of shotIndices(settings.shots)) {
        const task = author.Task(`shot-${shot}`, "blender");
        task.addCommand(author.Command("blender-render", {
            exe: "{blender}",
            exeArgs: "{blenderArgs}",
            argsBefore: ["-c", "vggt"],  // Blender's -c takes every argument after it: no blend file to open
            blendfile: "",
            // "--option=VALUE": one argument, so a value that starts with "-" is never taken for an option
            args: [
                `--manifest=${settings.shot_manifest}`,
                `--shot-index=${shot}`,
                `--out=${settings.output_dir}`,
                `--device=${settings.device}`,
                `--model=${settings.model_source}`,
                `--options=${settings.frame_options}`,
                `--options=${settings.extra_args}`,
            ],
        }));
        job.addTask(task);
    }
}

// The settings with defaults filled in; throws (Flamenco shows it at submission) for a missing or
// mistyped one, before any task exists.
function checkSettings(given) {
    const settings = {};
    for (const def of JOB_TYPE.settings) {
        let value = given[def.key];
        if (value === undefined || value === null) value = def.default;
        if (typeof value !== "string" || (def.required && value.trim() === "")) {
            throw `${def.key}: required, a text setting`;
        }
        if (def.choices && def.choices.indexOf(value) < 0) {
            throw `${def.key}: '${value}' is not one of ${def.choices.join(", ")}`;
        }
        settings[def.key] = value;
    }
    return settings;
}

// "0-3,7" -> [0, 1, 2, 3, 7]; throws on anything else (Flamenco shows the error at submission).
function shotIndices(text) {
    const out = [];
    for (const part of String(text).split(",")) {
        const m = part.trim().match(/^(\d+)(?:\s*-\s*(\d+))?$/);
        if (!m) throw `shots: cannot read '${part.trim()}' (write rows as 0-199 or 0,3,7-9)`;
        const first = Number(m[1]), last = m[2] === undefined ? first : Number(m[2]);
        if (last < first) throw `shots: range '${part.trim()}' runs backwards`;
        for (let i = first; i <= last; i++) if (out.indexOf(i) < 0) out.push(i);
    }
    return out;
}
