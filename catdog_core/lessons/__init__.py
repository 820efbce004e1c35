"""Teaching experiments beside the post's path, each a question a class asks of its data:

learningcurve (+ curvefit)      how much data is enough: balanced subsets, one small fit per point
suspects                        which labels look wrong: out-of-fold heads rank doubtful photos
shortcut                        plant a shortcut (a square on one class) and watch the model take it
whatif                          one photo changed by hand, classified again
augcheck (+ augbank, augresult) does augmentation help? with and without, over seeds; a sweep
"""
