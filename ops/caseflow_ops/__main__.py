from caseflow_ops.cli import main

raise SystemExit(main())
