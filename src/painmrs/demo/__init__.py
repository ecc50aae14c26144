"""The simulated demo study: raw-acquisition model, study design, participants, truth, writer.

``painmrs.demo.acquisition`` turns clean signals into realistic raw data with known truth;
``painmrs.demo.study.simulate_study`` writes a whole MRS-BIDS study plus its ground truth.
"""
