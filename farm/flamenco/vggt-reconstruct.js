// SPDX-License-Identifier: GPL-3.0-or-later
//
// Flamenco job type "VGGT Reconstruct": one task per shot of a shot manifest, each running
//   blender -b -c vggt --manifest SHOTS.csv --shot N --out OUTPUT [options]
// (a shot writes OUTPUT/NAME/NAME.blend and, last, OUTPUT/NAME/summary.json; a failed shot fails its task
// with one line "vggt: error: ..." in the task log). Manifest format: vggt_core/batch.py.
//
// Install: copy this file into the `scripts` folder next to the flamenco-manager executable and restart
// the Manager. Workers need Blender with the vggt_blender extension and its dependencies (README "Farm").
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
        { key: "device", type: "string", choices: ["auto", "cuda", "mps", "cpu"], default: "auto" },
        { key: "frame_options", type: "string", default: "",
          description: "Frame selection for every shot, e.g. '--max-frames 40 --fps 4' (manifest rows win)" },
        { key: "extra_args", type: "string", default: "",
          description: "Other options of blender -b -c vggt "
              + "(lens/refine, --export-colmap colmap, --render preview.png ...)" },
    ],
};

function compileJob(job) {
    const settings = job.settings;
    const options = [
        "--out", settings.output_dir,
        "--device", settings.device || "auto",
    ];
    if (settings.model_source) options.push("--model", settings.model_source);
    const all = options.concat(splitArgs(settings.frame_options || ""), splitArgs(settings.extra_args || ""));

    for (const shot of shotIndices(settings.shots)) {
        const task = author.Task(`shot-${shot}`, "blender");
        // Flamenco runs {exe} {exeArgs} {argsBefore} {blendfile} {args}: "-c vggt" has to follow Blender's own
        // options, so the command name takes the blend file's place (the command opens no file).
        task.addCommand(author.Command("blender-render", {
            exe: "{blender}",
            exeArgs: "{blenderArgs}",
            argsBefore: ["-c"],
            blendfile: "vggt",
            args: ["--manifest", settings.shot_manifest, "--shot", String(shot)].concat(all),
        }));
        job.addTask(task);
    }
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

// Split an options string like a shell line: whitespace separates, '...' and "..." group.
function splitArgs(text) {
    const out = [];
    const re = /"([^"]*)"|'([^']*)'|([^\s'"]+)/g;
    let m, current = null, lastEnd = -1;
    while ((m = re.exec(text)) !== null) {
        const piece = m[1] !== undefined ? m[1] : m[2] !== undefined ? m[2] : m[3];
        if (current !== null && m.index === lastEnd) current += piece;  // abutting pieces: --name="a b"
        else { if (current !== null) out.push(current); current = piece; }
        lastEnd = re.lastIndex;
    }
    if (current !== null) out.push(current);
    return out;
}
